import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { backoffDelay, HeraldClient, type DeliveredEvent, type StateChange, type WebSocketConstructor } from '@herald/client';
import { startBlockingProxy } from '../../server/test/support/block-websocket-proxy.js';
import { postEvents, scratchDirs, startHub } from '../../server/test/support/hub.js';
import { spawnHub, until } from '../../server/test/support/process.js';

const dataDir = scratchDirs('herald-client-');

function collect(client: HeraldClient, channel: string) {
  const events: DeliveredEvent[] = [];
  const resets: unknown[] = [];
  const sub = client.subscribe(channel, (e) => events.push(e));
  sub.on('reset', (r) => resets.push(r));
  return { sub, events, resets, offsets: () => events.map((e) => e.offset) };
}

const fastBackoff = { initialDelayMs: 50, maxDelayMs: 300 };

describe('HeraldClient against a real hub', () => {
  it('survives a hub killed and restarted: resumes with no gap and no duplicate', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir);
    const states: StateChange[] = [];
    const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: fastBackoff });
    client.on('state', (s) => states.push(s));
    client.connect();
    const { sub, offsets, resets } = collect(client, 'c.restart');
    await until(() => sub.state === 'subscribed', 'subscribed');
    await postEvents(hub.url, 'c.restart', [{ type: '1' }, { type: '2' }, { type: '3' }]);
    await until(() => offsets().length === 3, '3 events');

    await hub.kill();
    await until(() => client.state !== 'connected', 'the client noticing');
    hub = await spawnHub(dir, [], hub.port);
    await postEvents(hub.url, 'c.restart', [{ type: '4' }, { type: '5' }, { type: '6' }]);
    await until(() => offsets().length >= 6, 'the missed events');
    await postEvents(hub.url, 'c.restart', { type: '7' });
    await until(() => offsets().length >= 7, 'live after resume');

    assert.deepEqual(offsets(), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(resets, []);
    const path = states.map((s) => s.to);
    assert.deepEqual(path.slice(0, 2), ['connecting', 'connected']);
    assert.ok(path.includes('disconnected') && path.at(-1) === 'connected', path.join(' → '));
    assert.ok(states.find((s) => s.to === 'disconnected')!.retryInMs! <= fastBackoff.initialDelayMs);
    client.close();
    assert.equal(client.state, 'closed');
    await hub.kill();
  });

  it('raises reset when history no longer covers the gap, then continues live', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir, ['--retention-count', '3']);
    const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: fastBackoff }).connect();
    const { sub, offsets, resets } = collect(client, 'c.gap');
    await until(() => sub.state === 'subscribed', 'subscribed');
    await postEvents(hub.url, 'c.gap', { type: 'first' });
    await until(() => offsets().length === 1, 'first event');
    await hub.kill();
    // The missed events go in through the same data folder on another port, where the client cannot
    // reconnect before they are stored (on the old port it sometimes came back first, with no gap).
    const elsewhere = await spawnHub(dir, ['--retention-count', '3']);
    await postEvents(elsewhere.url, 'c.gap', Array.from({ length: 10 }, (_, i) => ({ type: `missed-${i}` })));
    await elsewhere.kill();
    hub = await spawnHub(dir, ['--retention-count', '3'], hub.port);
    await until(() => resets.length === 1, 'reset');
    assert.deepEqual(resets[0], { channel: 'c.gap', epoch: (resets[0] as any).epoch, offset: 11, reason: 'history-lost' });
    await postEvents(hub.url, 'c.gap', { type: 'after' });
    await until(() => offsets().length === 2, 'live event after the reset');
    assert.deepEqual(offsets(), [1, 12]);
    client.close();
    await hub.kill();
  });

  it('falls back to SSE and HTTP when WebSocket upgrades are refused, with the same API', async () => {
    const hub = await startHub();
    const proxy = await startBlockingProxy(hub.url);
    try {
      const client = new HeraldClient({
        url: proxy.url,
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        EventSource: EventSource as any,
        backoff: fastBackoff,
      }).connect();
      const { sub, offsets, events } = collect(client, 'c.sse');
      await until(() => client.state === 'connected' && sub.state === 'subscribed', 'connected over SSE');
      assert.equal(client.transport, 'sse');
      await postEvents(hub.url, 'c.sse', [{ type: 'a' }, { type: 'b' }]);
      const published = await client.publish('c.sse', { type: 'from-client', data: { via: 'http' } });
      assert.equal(published.offset, 3);
      await until(() => offsets().length === 3, '3 events over SSE');
      assert.deepEqual(offsets(), [1, 2, 3]);
      const { id, ...rest } = events[2]!.event;
      assert.deepEqual(rest, { type: 'from-client', severity: 'info', data: { via: 'http' } });
      assert.match(String(id), /^c-[0-9a-f]{24}$/, 'the idempotency id the client gave it');
      client.close();
    } finally {
      await proxy.close();
      await hub.dispose();
    }
  });

  it('stays on WebSocket when one upgrade is refused (a hub restarting), instead of falling back', async () => {
    const hub = await startHub();
    let client: HeraldClient | undefined;
    const proxy = await startBlockingProxy(hub.url, 1);
    try {
      client = new HeraldClient({ url: proxy.url, WebSocket: WebSocket as unknown as WebSocketConstructor, EventSource: EventSource as any, backoff: fastBackoff }).connect();
      await until(() => client!.state === 'connected', 'connected');
      assert.equal(proxy.refused(), 1);
      assert.equal(client.transport, 'websocket');
    } finally {
      client?.close();
      await proxy.close();
      await hub.dispose();
    }
  });

  it('raises reset when a pattern subscription must resume over SSE, which cannot replay patterns', async () => {
    const hub = await startHub();
    let client: HeraldClient | undefined;
    try {
      const { json } = await postEvents(hub.url, 'c.pat.a', { type: 'seen' });
      client = new HeraldClient({ url: hub.url, EventSource: EventSource as any, transports: ['sse'] }).connect();
      const resets: unknown[] = [];
      const sub = client.subscribe('c.pat.*', undefined, { since: { positions: { 'c.pat.a': { offset: 1, epoch: json.epoch } } } });
      sub.on('reset', (r) => resets.push(r));
      await until(() => resets.length === 1, 'reset');
      assert.deepEqual(resets[0], { channel: 'c.pat.*', reason: 'history-lost' });
    } finally {
      client?.close();
      await hub.dispose();
    }
  });

  it('publishes over the WebSocket and reports hub errors with their code', async () => {
    const hub = await startHub();
    try {
      const client = new HeraldClient({ url: hub.url, WebSocket: WebSocket as unknown as WebSocketConstructor }).connect();
      await until(() => client.state === 'connected', 'connected');
      assert.deepEqual(await client.publish('c.pub', { type: 'x', id: 'once' }), { offset: 1, epoch: (await client.publish('c.pub', { type: 'y' })).epoch });
      assert.equal((await client.publish('c.pub', { type: 'x', id: 'once' })).duplicate, true);
      await assert.rejects(client.publish('c.pub', { type: '' }), { name: 'HeraldError', code: 'invalid_event' });
      client.close();
    } finally {
      await hub.dispose();
    }
  });
});

describe('backoff', () => {
  it('draws full-jitter delays between 0 and min(max, initial × 2^attempt)', () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const ceiling = Math.min(30_000, 1000 * 2 ** attempt);
      assert.equal(backoffDelay(attempt, {}, () => 0), 0);
      assert.equal(backoffDelay(attempt, {}, () => 0.5), Math.floor(ceiling / 2));
      assert.equal(backoffDelay(attempt, {}, () => 0.999999), ceiling - 1);
    }
  });

  it('makes the client wait longer after each failed attempt, within bounds, and stop on a terminal code', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    try {
      let closeCode = 1006;
      let opened = 0;
      class RefusedSocket {
        readyState = 3;
        onopen = null;
        onmessage = null;
        onclose: ((e: { code: number; reason: string }) => void) | null = null;
        onerror = null;
        constructor() {
          opened++;
          queueMicrotask(() => this.onclose?.({ code: closeCode, reason: 'refused' }));
        }
        send() {}
        close() {}
      }
      const randoms = [0.9, 0.1, 0.5, 0.99, 0.7, 0.3, 0.95, 0.6];
      let r = 0;
      const client = new HeraldClient({ url: 'http://127.0.0.1:9', WebSocket: RefusedSocket as any, transports: ['websocket'], random: () => randoms[r++ % randoms.length]! });
      const delays: number[] = [];
      client.on('state', (s) => s.retryInMs !== undefined && delays.push(s.retryInMs));
      client.connect();
      const settle = async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
      };
      for (let attempt = 0; attempt < 8; attempt++) {
        await settle();
        assert.equal(delays.length, attempt + 1);
        if (attempt === 7) closeCode = 4003; // the next attempt is refused with a terminal code
        mock.timers.tick(delays[attempt]!);
      }
      delays.forEach((delay, attempt) => {
        const ceiling = Math.min(30_000, 1000 * 2 ** attempt);
        assert.equal(delay, Math.floor(randoms[attempt]! * ceiling), `attempt ${attempt}`);
        assert.ok(delay >= 0 && delay < ceiling);
      });
      await settle();
      assert.equal(opened, 9);
      assert.equal(client.state, 'disconnected');
      mock.timers.tick(120_000);
      await settle();
      assert.equal(delays.length, 8, 'no retry scheduled after a terminal close');
      assert.equal(opened, 9, 'no new socket');
      client.close();
    } finally {
      mock.timers.reset();
    }
  });
});
