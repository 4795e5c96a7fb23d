import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { startServer } from '../src/index.js';
import { request as httpRequest } from 'node:http';
import { postEvents, request, startHub, tempDir } from './support/hub.js';
import { until } from './support/process.js';

/** Opens a stream, reads until `done` holds (or, without it, a quiet 300 ms after `subscribed`), and closes it. */
function openStream(url: string, headers: Record<string, string>, done?: (text: string) => boolean): Promise<{ subscribed: { epoch: string; offset: number; recovered?: boolean }; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, headers }, (res) => {
      let text = '';
      let timer: NodeJS.Timeout | undefined;
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /event: subscribed\ndata: (.*)\n/.exec(text);
        if (!match) return;
        const finish = () => {
          res.destroy();
          resolve({ subscribed: JSON.parse(match[1]!), text });
        };
        clearTimeout(timer);
        if (done?.(text)) finish();
        else if (!done) timer = setTimeout(finish, 300);
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface Received {
  offsets: number[];
  subscribed: Array<{ recovered?: boolean }>;
}

function watch(url: string): { source: EventSource; received: Received; until: (test: () => boolean) => Promise<void> } {
  const source = new EventSource(url);
  const received: Received = { offsets: [], subscribed: [] };
  let check = () => {};
  source.onmessage = (message) => {
    const { offset, epoch } = JSON.parse(message.data);
    assert.equal(message.lastEventId, `${offset}@${epoch}`, 'the id names the offset and its history');
    received.offsets.push(JSON.parse(message.data).offset);
    check();
  };
  source.addEventListener('subscribed', (message) => {
    received.subscribed.push(JSON.parse(message.data));
    check();
  });
  const until = (test: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; received ${JSON.stringify(received)}`)), 10_000);
      check = () => {
        if (test()) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
    });
  return { source, received, until };
}

describe('SSE stream', () => {
  it('replays from ?since, then streams live events with id: set to the offset', async () => {
    const hub = await startHub();
    try {
      await postEvents(hub.url, 's.live', [{ type: 'a' }, { type: 'b' }, { type: 'c' }]);
      const { source, received, until } = watch(`${hub.url}/api/channels/s.live/stream?since=1`);
      await until(() => received.offsets.length === 2);
      await postEvents(hub.url, 's.live', { type: 'd' });
      await until(() => received.offsets.length === 3);
      assert.deepEqual(received.offsets, [2, 3, 4]);
      source.close();
    } finally {
      await hub.dispose();
    }
  });

  it('resumes with Last-Event-ID after a hub restart: every event once, in order (eventsource npm client)', async () => {
    const dataDir = tempDir();
    let hub = await startServer({ port: 0, dataDir, logLevel: 'silent' });
    const port = hub.port;
    const { source, received, until } = watch(`${hub.url}/api/channels/s.resume/stream?since=0`);
    try {
      await postEvents(hub.url, 's.resume', [{ type: '1' }, { type: '2' }]);
      await until(() => received.offsets.length === 2);

      await hub.close();
      hub = await startServer({ port, dataDir, logLevel: 'silent' });
      await postEvents(hub.url, 's.resume', [{ type: '3' }, { type: '4' }]);
      await until(() => received.offsets.length >= 4 && received.subscribed.length >= 2);
      await postEvents(hub.url, 's.resume', { type: '5' });
      await until(() => received.offsets.length >= 5);

      assert.deepEqual(received.offsets, [1, 2, 3, 4, 5]);
      assert.equal(received.subscribed[1]!.recovered, true, 'the reconnect sent Last-Event-ID and the gap was filled');
    } finally {
      source.close();
      await hub.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a resume whose Last-Event-ID is of a history since reset is told recovered:false, never replayed from the new history', async () => {
    const hub = await startHub();
    try {
      for (let n = 0; n < 3; n++) await postEvents(hub.url, 's.reset', { type: 'old' });
      const first = await request('GET', `${hub.url}/api/channels/s.reset/events`);
      const oldEpoch = JSON.parse(first.text).epoch as string;
      assert.equal((await request('DELETE', `${hub.url}/api/channels/s.reset`)).status, 200);
      for (let n = 0; n < 5; n++) await postEvents(hub.url, 's.reset', { type: 'new' });
      // What EventSource sends after the hub went away at offset 3 of the old history.
      const opened = await openStream(`${hub.url}/api/channels/s.reset/stream`, { 'last-event-id': `3@${oldEpoch}` });
      assert.equal(opened.subscribed.recovered, false, 'the old history is gone: reload');
      assert.notEqual(opened.subscribed.epoch, oldEpoch);
      assert.equal(opened.subscribed.offset, 5);
      assert.match(opened.text, /event: reset\n/);
      assert.doesNotMatch(opened.text, /^id: /m, 'nothing replayed from the new history as if it were the old one');
      // The same offset in the current history resumes as before.
      const current = await openStream(`${hub.url}/api/channels/s.reset/stream`, { 'last-event-id': `3@${opened.subscribed.epoch}` }, (text) => /^id: 5@/m.test(text));
      assert.equal(current.subscribed.recovered, true);
      assert.deepEqual([...current.text.matchAll(/^id: (\d+)@/gm)].map((m) => Number(m[1])), [4, 5]);
      const bare = await openStream(`${hub.url}/api/channels/s.reset/stream`, { 'last-event-id': '4' }, (text) => /^id: 5@/m.test(text));
      assert.equal(bare.subscribed.recovered, true, 'a bare offset means the current history');
      assert.equal((await request('GET', `${hub.url}/api/channels/s.reset/stream?since=3@zz!`)).status, 400);
    } finally {
      await hub.dispose();
    }
  });

  it('streams a pattern live, without ids', async () => {
    const hub = await startHub();
    try {
      const { source, received, until } = watch(`${hub.url}/api/channels/${encodeURIComponent('s.p.>')}/stream`);
      await until(() => received.subscribed.length === 1);
      const lines: string[] = [];
      source.onmessage = (m) => lines.push(`${JSON.parse(m.data).channel}|${m.lastEventId}`);
      await postEvents(hub.url, 's.p.one', { type: 'x' });
      await postEvents(hub.url, 's.p.two.deep', { type: 'y' });
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => lines.length === 2 && (clearInterval(timer), resolve()), 10);
      });
      assert.deepEqual(lines, ['s.p.one|', 's.p.two.deep|']);
      source.close();
    } finally {
      await hub.dispose();
    }
  });

  it('sends heartbeat events EventSource can see: the first at once, naming the interval, then one per interval', async () => {
    const hub = await startHub({ heartbeatMs: 100 });
    const source = new EventSource(`${hub.url}/api/channels/s.beat/stream`);
    try {
      const seen: string[] = [];
      const beats: unknown[] = [];
      await new Promise<void>((resolve) => {
        source.addEventListener('subscribed', () => seen.push('subscribed'));
        source.addEventListener('heartbeat', (message) => {
          seen.push('heartbeat');
          beats.push(JSON.parse(message.data));
          if (beats.length === 3) resolve();
        });
      });
      assert.equal(seen[0], 'heartbeat', 'the stream opens with a heartbeat, before it is subscribed');
      assert.ok(seen.includes('subscribed'));
      assert.deepEqual(beats, [{ heartbeatMs: 100 }, { heartbeatMs: 100 }, { heartbeatMs: 100 }]);
    } finally {
      source.close();
      await hub.dispose();
    }
  });

  it('closing the hub does not wait for SSE readers, attached or gone', async () => {
    const hub = await startHub();
    let connections = 0;
    hub.app.server.on('connection', () => connections++);
    const attached = new EventSource(`${hub.url}/api/channels/s.close/stream`);
    const gone = new EventSource(`${hub.url}/api/channels/s.close/stream`);
    try {
      await Promise.all([attached, gone].map((source) => new Promise((resolve) => source.addEventListener('subscribed', resolve))));
      // Node's fetch (under the eventsource package) replaces the aborted connection with a fresh, unused
      // one, which the hub's close used to wait for until the client dropped it (4 s).
      gone.close();
      await until(() => connections === 3, 'the fresh connection that replaces the aborted one');
      const started = performance.now();
      await hub.dispose();
      const took = performance.now() - started;
      assert.ok(took < 1000, `closing took ${Math.round(took)} ms`);
    } finally {
      attached.close();
      gone.close();
    }
  });
});
