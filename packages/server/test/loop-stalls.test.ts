import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { getJson, request, scratchDirs } from './support/hub.js';
import { spawnHub } from './support/process.js';
import { TestClient, type Message } from './support/ws-client.js';

const dirs = scratchDirs('herald-stalls-');
const CHANNELS = 100_000;

/** Publishes one event to each of `count` channels `load.<i>` over one WebSocket, pipelined in array frames. */
async function createChannels(url: string, count: number): Promise<void> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let acknowledged = 0;
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as Message | Message[];
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (m.op === 'error') reject(new Error(JSON.stringify(m)));
        if (m.op === 'published' && ++acknowledged === count) resolve();
      }
    });
  });
  const perFrame = 500;
  for (let start = 0; start < count; start += perFrame) {
    const frame = Array.from({ length: Math.min(perFrame, count - start) }, (_, k) => ({
      op: 'publish',
      id: start + k,
      channel: `load.${start + k}`,
      event: { type: 'log', data: { message: `channel ${start + k}` } },
    }));
    ws.send(JSON.stringify(frame));
    // Let acknowledgements flow instead of queueing the whole load in the hub at once.
    if ((start / perFrame) % 20 === 19) await new Promise((r) => setTimeout(r, 50));
  }
  await done;
  ws.close();
}

/** The hub's own event-loop delay since the previous scrape (prom-client's perf_hooks histogram, reset on each scrape). */
async function loopDelay(url: string): Promise<{ p99: number; max: number }> {
  const { text } = await request('GET', `${url}/metrics`);
  const read = (name: string) => {
    const match = new RegExp(`^herald_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text);
    assert.ok(match, `metric ${name} in /metrics`);
    return Number(match[1]) * 1000;
  };
  return { p99: read('p99'), max: read('max') };
}

/**
 * The freeze from the issue: with 100 000 channels, one pattern resume `>` since time 0 blocked the event
 * loop ~2 s, one frame of four such subscribes 7.7 s, five dashboard reconnects 10.4 s. Pattern resume now
 * scans the store by time in slices and lists no channels; the channel list is paged. Measured with the
 * hub's event-loop-delay histogram while the worst cases run, and by a bystander that must get every event.
 */
describe('no command stalls the event loop at 100 000 channels', () => {
  it('pattern resumes, a frame of four of them, five dashboard-style reconnects and channel pages: loop p99 < 50 ms, max < 200 ms', async () => {
    // The channels are made by one client as fast as it can: the quotas that stop exactly that are off.
    const hub = await spawnHub(dirs(), ['--sync', 'normal', '--max-channels', '0', '--max-new-channels-per-minute', '0', '--max-events-per-second', '0', '--max-ip-events-per-second', '0']);
    try {
      const started = Date.now();
      await createChannels(hub.url, CHANNELS);
      const stats = (await getJson(`${hub.url}/api/stats`)).json;
      assert.equal(stats.channels, CHANNELS);
      const creating = await loopDelay(hub.url);
      console.log(`# ${CHANNELS} channels created in ${Date.now() - started} ms; loop delay meanwhile p99 ${creating.p99.toFixed(1)} ms, max ${creating.max.toFixed(1)} ms`);

      const bystander = await TestClient.connect(hub.url);
      await bystander.request({ op: 'subscribe', channel: 'bystander' });

      const sinceZero = { time: 0 };
      const clients: TestClient[] = [];
      const open = async () => {
        const client = await TestClient.connect(hub.url);
        await client.waitFor((m) => m.op === 'hello');
        clients.push(client);
        return client;
      };
      // One frame holding four pattern resumes from the beginning of time.
      const four = await open();
      four.sendRaw(JSON.stringify(['>', 'load.>', 'load.*', '*.*'].map((channel, id) => ({ op: 'subscribe', id, channel, since: sinceZero }))));
      // Five dashboards reconnecting: `>` with the positions of 5 000 channels they had seen, and a time.
      const positions = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`load.${i}`, { offset: 0 }]));
      const dashboards = await Promise.all(Array.from({ length: 5 }, open));
      for (const d of dashboards) d.sendRaw(JSON.stringify({ op: 'subscribe', id: 'feed', channel: '>', since: { positions, time: started - 1 } }));
      // One resume that fits: the 5 000 listed channels only, each missing its one event.
      const fits = await open();
      fits.sendRaw(JSON.stringify({ op: 'subscribe', id: 'fits', channel: 'load.>', since: { positions } }));

      // Meanwhile: channel list pages, and the bystander's markers.
      const pages = (async () => {
        let cursor = '';
        for (let i = 0; i < 10; i++) {
          const page = (await getJson(`${hub.url}/api/channels?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json;
          assert.equal(page.channels.length, 1000);
          cursor = page.next;
        }
        const prefixed = (await getJson(`${hub.url}/api/channels?prefix=load.9999`)).json;
        assert.deepEqual(prefixed.channels.map((c: { name: string }) => c.name), ['load.9999', 'load.99990', 'load.99991', 'load.99992', 'load.99993', 'load.99994', 'load.99995', 'load.99996', 'load.99997', 'load.99998', 'load.99999']);
      })();
      const markers = 60;
      const marking = (async () => {
        for (let n = 1; n <= markers; n++) {
          await request('POST', `${hub.url}/api/channels/bystander/events`, JSON.stringify({ type: 'marker', data: { n } }));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      for (let id = 0; id < 4; id++) {
        const reply = await four.waitFor((m) => m.id === id, `subscribe #${id}`, 30_000);
        assert.equal(reply.op, 'subscribed');
        assert.equal(reply.recovered, false, 'a gap of 100 000 events is over the recovery budget: told honestly');
        assert.equal(reply.replayed, 0);
      }
      for (const d of dashboards) {
        const reply = await d.waitFor((m) => m.id === 'feed', 'dashboard resume', 30_000);
        assert.equal(reply.op, 'subscribed');
        assert.equal(reply.recovered, false, '5 000 listed + 95 000 unlisted events do not fit in 10 000');
      }
      const fitted = await fits.waitFor((m) => m.id === 'fits', 'the resume that fits', 30_000);
      assert.equal(fitted.recovered, true);
      assert.equal(fitted.replayed, 5000);
      const replayed = await fits.waitForEvents(5000);
      assert.deepEqual(new Set(replayed.map((e) => e.channel)).size, 5000, 'every listed channel replayed its event');
      await Promise.all([pages, marking]);

      const delay = await loopDelay(hub.url);
      console.log(`# hub event-loop delay while the worst cases ran: p99 ${delay.p99.toFixed(1)} ms, max ${delay.max.toFixed(1)} ms`);
      const seen = await bystander.waitForEvents(markers, 'bystander');
      assert.deepEqual(seen.map((e) => e.event.data.n), Array.from({ length: markers }, (_, i) => i + 1), 'the bystander got every marker, in order');
      assert.ok(delay.p99 < 50, `event-loop delay p99 ${delay.p99} ms`);
      assert.ok(delay.max < 200, `event-loop delay max ${delay.max} ms`);
      for (const c of [...clients, bystander]) c.close();
    } finally {
      await hub.kill();
    }
  });
});
