import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { startHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

/**
 * Resuming while another process publishes as fast as it can: every resumed subscription must see each
 * offset exactly once, whatever moment its history read falls on (with the SQLite store the write is
 * committed on another thread, so history and fan-out could otherwise disagree for a moment).
 */
describe('resume under concurrent publishing', () => {
  it('delivers every offset exactly once to subscriptions resumed at random moments', async () => {
    const hub = await startHub();
    const total = 1500;
    const publisher = spawn(process.execPath, ['-e', `
      (async () => {
        let next = 0;
        await Promise.all([0, 1, 2, 3].map(async () => {
          while (next < ${total}) {
            next++;
            const r = await fetch(${JSON.stringify(hub.url)} + '/api/channels/race/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"tick"}' });
            if (r.status !== 201) process.exit(1);
          }
        }));
      })();`], { stdio: 'inherit' });
    const exited = new Promise((resolve) => publisher.on('exit', resolve));
    try {
      const sessions: Array<{ client: TestClient; since: number }> = [];
      let done = false;
      void exited.then(() => (done = true));
      while (!done && sessions.length < 40) {
        const client = await TestClient.connect(hub.url);
        const since = 0; // the whole history so far, read at whatever moment this lands on
        const reply = await client.request({ op: 'subscribe', channel: 'race', since: { offset: since } });
        assert.equal(reply.recovered, true);
        sessions.push({ client, since });
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await exited, 0);
      assert.ok(sessions.length >= 5, `only ${sessions.length} resumes happened during publishing`);
      for (const { client, since } of sessions) {
        const events = await client.waitForEvents(total - since, 'race');
        await new Promise((r) => setTimeout(r, 20));
        const offsets = client.events('race').map((e) => e.offset);
        assert.deepEqual(offsets, Array.from({ length: total - since }, (_, i) => since + i + 1), `resumed after ${since}: no gap, no duplicate`);
        assert.equal(events.length, total - since);
        client.close();
      }
    } finally {
      await hub.dispose();
    }
  });

  it('gives a pattern started from its newest events every later offset exactly once, whatever moment the start lands on', async () => {
    const hub = await startHub();
    const perChannel = 500;
    const publisher = spawn(process.execPath, ['-e', `
      (async () => {
        await Promise.all([0, 1, 2].map(async (c) => {
          for (let i = 0; i < ${perChannel}; i++) {
            const r = await fetch(${JSON.stringify(hub.url)} + '/api/channels/lrace.c' + c + '/events', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"tick"}' });
            if (r.status !== 201) process.exit(1);
          }
        }));
      })();`], { stdio: 'inherit' });
    const exited = new Promise((resolve) => publisher.on('exit', resolve));
    try {
      const sessions: TestClient[] = [];
      let done = false;
      void exited.then(() => (done = true));
      while (!done && sessions.length < 40) {
        const client = await TestClient.connect(hub.url);
        await client.request({ op: 'subscribe', channel: 'lrace.*', since: { last: 20 } });
        sessions.push(client);
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await exited, 0);
      assert.ok(sessions.length >= 5, `only ${sessions.length} starts happened during publishing`);
      for (const client of sessions) {
        for (const c of [0, 1, 2]) {
          const channel = `lrace.c${c}`;
          await client.waitFor(() => client.events(channel).some((e) => e.offset === perChannel), `${channel} #${perChannel}`);
          await new Promise((r) => setTimeout(r, 5));
          const got = client.events(channel).map((e) => e.offset);
          assert.deepEqual(got, Array.from({ length: got.length }, (_, k) => got[0]! + k), `${channel}: no gap, no duplicate`);
        }
        client.close();
      }
    } finally {
      await hub.dispose();
    }
  });
});
