import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mintToken } from '../src/index.js';
import { bearer, getJson, postEvents, request, startHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const SECRET = 'fuzz-findings-secret-that-is-long-enough-012345';

/** Bugs the fuzz and its follow-up probes found, each pinned by the input that showed it. */
describe('found by fuzzing', () => {
  it('a token valid for 40 days is not "expired" at once (Node clamps timers past 24.8 days to 1 ms)', async () => {
    const hub = await startHub({ jwtSecret: SECRET });
    try {
      const token = await mintToken(SECRET, { subject: 'long', grant: { subscribe: ['>'], publish: [], admin: false }, ttlSeconds: 40 * 86_400 });
      const client = await TestClient.connect(hub.url, '', { headers: bearer(token) });
      await client.waitFor((m) => m.op === 'hello');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await client.request({ op: 'ping' })).op, 'pong', 'still connected');
      assert.equal(client.messages.filter((m) => m.op === 'expiring').length, 0);
      const stream = await fetch(`${hub.url}/api/channels/x/stream`, { headers: bearer(token) });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await request('POST', `${hub.url}/api/channels/x/events`, '{"type":"later"}', bearer(token))).status, 403, 'subscribe-only');
      const admin = await mintToken(SECRET, { subject: 'admin', grant: { subscribe: [], publish: [], admin: true }, ttlSeconds: 60 });
      assert.equal((await request('POST', `${hub.url}/api/channels/x/events`, '{"type":"later"}', bearer(admin))).status, 201);
      const reader = stream.body!.getReader();
      let text = '';
      while (!text.includes('"later"')) {
        const chunk = await reader.read();
        assert.equal(chunk.done, false, 'the SSE stream is still open');
        text += new TextDecoder().decode(chunk.value);
      }
      await reader.cancel();
      client.close();
    } finally {
      await hub.dispose();
    }
  });

  it('a run whose summary has more keys than publishers may send does not crash the hub', async () => {
    const hub = await startHub({ maxMessageBytes: 256 * 1024 });
    try {
      const labels = Object.fromEntries(Array.from({ length: 9_990 }, (_, i) => [`k${i}`, 'v']));
      assert.equal((await postEvents(hub.url, 'runs.big', { type: 'run.started', data: { labels } })).status, 201);
      await new Promise((r) => setTimeout(r, 600)); // the tracker flushes (and summarises) every 250 ms
      const runs = await getJson(`${hub.url}/api/runs`);
      assert.equal(runs.status, 200);
      assert.deepEqual(runs.json.runs.map((r: any) => r.id), ['big']);
    } finally {
      await hub.dispose();
    }
  });

  it('refuses numbers JSON cannot carry in event data (1e309 was stored and came back as null)', async () => {
    const hub = await startHub();
    try {
      for (const body of ['{"type":"x","data":1e309}', '{"type":"x","data":{"a":[1,-1e309]}}']) {
        const res = await request('POST', `${hub.url}/api/channels/nums/events`, body);
        assert.equal(res.status, 400, body);
        assert.match(JSON.parse(res.text).error.message, /cannot carry/);
      }
    } finally {
      await hub.dispose();
    }
  });

  it('a metric named __proto__ is kept as a metric (it replaced the prototype of the run\'s metrics)', async () => {
    const hub = await startHub();
    try {
      await postEvents(hub.url, 'runs.m', [{ type: 'run.started' }, { type: 'metric', data: { name: '__proto__', value: 7 } }]);
      const run = (await getJson(`${hub.url}/api/runs/m`)).json;
      assert.equal(Object.getOwnPropertyDescriptor(run.metrics, '__proto__')?.value.value, 7);
    } finally {
      await hub.dispose();
    }
  });

  it('pattern resume finds channels named like built-in object properties', async () => {
    const hub = await startHub();
    try {
      for (const channel of ['constructor', 'toString', '__proto__', 'plain']) assert.equal((await postEvents(hub.url, channel, { type: channel })).status, 201);
      const client = await TestClient.connect(hub.url);
      const reply = await client.request({ op: 'subscribe', channel: '*', since: { time: 0, positions: { __proto__: { offset: 0 }, constructor: { offset: 0 } } } });
      assert.equal(reply.recovered, true);
      const events = await client.waitForEvents(4);
      assert.deepEqual(events.map((e) => e.channel).sort(), ['__proto__', 'constructor', 'plain', 'toString']);
      client.close();
    } finally {
      await hub.dispose();
    }
  });

  it('answers hostile ops, infinite ids, infinite limits and broken escapes with documented errors', async () => {
    const hub = await startHub();
    try {
      const client = await TestClient.connect(hub.url);
      client.sendRaw('{"op":{"toString":0},"id":"a"}');
      assert.equal((await client.waitFor((m) => m.id === 'a')).code, 'unknown_op');
      client.sendRaw(`{"op":${'['.repeat(5000)}${']'.repeat(5000)},"id":"b"}`);
      assert.equal((await client.waitFor((m) => m.id === 'b')).code, 'unknown_op');
      client.sendRaw('{"op":"ping","id":1e309}');
      assert.equal((await client.waitFor((m) => m.op === 'error' && m.id === undefined)).code, 'bad_request');
      await postEvents(hub.url, 'lim', { type: 'x' });
      for (const path of ['/api/channels/lim/events?limit=1e309', '/api/runs?limit=-1e309', '/api/search?q=x&limit=Infinity', '/api/channels/%/events', '/api/runs/r2%4']) {
        const res = await request('GET', `${hub.url}${path}`);
        assert.equal(res.status, 400, path);
        assert.equal(JSON.parse(res.text).error.code, 'bad_request', path);
      }
      client.close();
    } finally {
      await hub.dispose();
    }
  });
});
