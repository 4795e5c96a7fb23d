import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { HeraldClient, type DeliveredEvent, type StateChange, type WebSocketConstructor } from '@herald/client';
import { createPublisher } from '@herald/client/publisher';
import { mintToken } from '../../server/src/index.js';
import { bearer, request, startHub } from '../../server/test/support/hub.js';
import { until } from '../../server/test/support/process.js';

const SECRET = 'client-auth-test-secret-long-enough-0123456789';
const READ_ALL = { subscribe: ['>'], publish: ['>'], admin: false };

/** Publishes `count` events, one every `everyMs`, as an admin over HTTP. */
async function publishSteadily(url: string, admin: string, channel: string, count: number, everyMs: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    const res = await request('POST', `${url}/api/channels/${channel}/events`, JSON.stringify({ type: 'tick', data: { i } }), bearer(admin));
    assert.equal(res.status, 201);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('@herald/client with expiring tokens', () => {
  for (const variant of ['refreshes in place', 'reconnects when the refresh is refused'] as const) {
    it(`${variant}, and resumes with no gap and no duplicate`, async () => {
      const hub = await startHub({ jwtSecret: SECRET });
      const admin = await mintToken(SECRET, { subject: 'admin', grant: { subscribe: [], publish: [], admin: true }, ttlSeconds: 600 });
      let calls = 0;
      // Tokens that live 2 s; in the second variant every token names another subject, which the hub
      // refuses as a refresh (a refresh must be for the same subject), so the connection expires (4004).
      const getToken = () => {
        calls++;
        const subject = variant === 'refreshes in place' ? 'viewer' : `viewer-${calls}`;
        return mintToken(SECRET, { subject, grant: READ_ALL, ttlSeconds: 2 });
      };
      const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, getToken, backoff: { initialDelayMs: 20, maxDelayMs: 100 } });
      const states: StateChange[] = [];
      client.on('state', (s) => states.push(s));
      const events: DeliveredEvent[] = [];
      const sub = client.subscribe('c.tokens', (e) => events.push(e));
      client.connect();
      try {
        await until(() => sub.state === 'subscribed', 'subscribed');
        const total = 100;
        await publishSteadily(hub.url, admin, 'c.tokens', total, 45); // ~5 s: two or more token lifetimes
        await until(() => events.length >= total, `${total} events`, 10_000);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(events.map((e) => e.offset), Array.from({ length: total }, (_, i) => i + 1), 'no gap, no duplicate');
        assert.ok(calls >= 3, `getToken was called ${calls} times`);
        const expiredCloses = states.filter((s) => s.to === 'disconnected' && s.code === 4004).length;
        if (variant === 'refreshes in place') assert.equal(expiredCloses, 0, 'the connection was never dropped');
        else assert.ok(expiredCloses >= 1, 'the connection expired and came back');
      } finally {
        client.close();
        await hub.dispose();
      }
    });
  }

  it('sends its token on HTTP calls and opens SSE streams with a ticket', async () => {
    const hub = await startHub({ jwtSecret: SECRET });
    const getToken = () => mintToken(SECRET, { subject: 'viewer', grant: READ_ALL, ttlSeconds: 60 });
    const client = new HeraldClient({ url: hub.url, EventSource: EventSource as never, transports: ['sse'], getToken });
    const events: DeliveredEvent[] = [];
    const sub = client.subscribe('c.sse', (e) => events.push(e));
    client.connect();
    try {
      await until(() => sub.state === 'subscribed', 'subscribed over SSE');
      assert.equal((await client.publish('c.sse', { type: 'over-http' })).offset, 1);
      await until(() => events.length === 1, 'the event over SSE');
      assert.equal((await client.history('c.sse')).events.length, 1);
      const anonymous = new HeraldClient({ url: hub.url, EventSource: EventSource as never, transports: ['sse'] });
      await assert.rejects(anonymous.history('c.sse'), /credentials required/);
    } finally {
      client.close();
      await hub.dispose();
    }
  });

  it('the Node publisher reads HERALD_API_KEY', async () => {
    const hub = await startHub();
    const { key } = await hub.keys.create('ci', { subscribe: [], publish: ['c.>'], admin: false });
    await hub.close();
    const secured = await startHub({ dataDir: hub.dataDir });
    const previous = process.env.HERALD_API_KEY;
    process.env.HERALD_API_KEY = key;
    try {
      const publisher = createPublisher({ url: secured.url });
      publisher.publish('c.pub', { type: 'x' });
      await publisher.close();
      const history = await request('GET', `${secured.url}/api/channels/c.pub/events`, undefined, bearer(key));
      assert.equal(history.status, 403, 'a publish-only key cannot read');
      assert.equal((await secured.keys.list()).length, 1);
      const admin = (await secured.keys.create('admin', { subscribe: [], publish: [], admin: true })).key;
      assert.equal(JSON.parse((await request('GET', `${secured.url}/api/channels/c.pub/events`, undefined, bearer(admin))).text).latest, 1);
    } finally {
      if (previous === undefined) delete process.env.HERALD_API_KEY;
      else process.env.HERALD_API_KEY = previous;
      await secured.dispose();
    }
  });
});
