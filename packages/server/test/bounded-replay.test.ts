import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { getJson, request, scratchDirs } from './support/hub.js';
import { spawnHub } from './support/process.js';
import { TestClient } from './support/ws-client.js';

const dirs = scratchDirs('herald-replay-');

/** Peak resident memory of a process, from the kernel (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * The crash from the issue: resumers that never read, on a channel of 10 000 × 60 KB events. Each used to
 * pin the whole 600 MB gap in memory; 8 of them killed the hub. The replay is now read page by page as the
 * socket drains, so they cost a page and the outbound cap each — and they are cut as slow consumers
 * (unsolicited pongs do not keep them alive) while a bystander keeps getting every event on time.
 */
describe('replay is bounded by the outbound cap, not by the gap', () => {
  it('8 non-reading resumers on 10 000 × 60 KB events: RSS < 600 MiB, bystander p99 < 200 ms, resumers cut', async () => {
    // The 600 MB gap is the point: no byte cap on the channel.
    const hub = await spawnHub(dirs(), ['--heartbeat', '2s', '--sync', 'normal', '--max-channel-bytes', '0']);
    try {
      const payload = 'x'.repeat(60_000);
      const batch = JSON.stringify(Array.from({ length: 125 }, () => ({ type: 'big', data: { payload } })));
      for (let i = 0; i < 80; i++) {
        const res = await request('POST', `${hub.url}/api/channels/big/events`, batch);
        assert.equal(res.status, 201, res.text.slice(0, 200));
      }
      assert.equal((await getJson(`${hub.url}/api/channels/big/events?limit=1`)).json.latest, 10_000);
      const baseline = peakRssMiB(hub.child.pid!);

      const bystander = await TestClient.connect(hub.url);
      await bystander.request({ op: 'subscribe', channel: 'bystander' });
      const resumers: TestClient[] = [];
      const pongs: NodeJS.Timeout[] = [];
      for (let i = 0; i < 8; i++) {
        const resumer = await TestClient.connect(hub.url);
        await resumer.waitFor((m) => m.op === 'hello');
        resumer.sendRaw(JSON.stringify({ op: 'subscribe', id: 1, channel: 'big', since: { offset: 0 } }));
        // Stop reading, and pretend to be alive with pongs nobody asked for.
        (resumer.ws as unknown as { _socket: { pause(): void } })._socket.pause();
        pongs.push(setInterval(() => resumer.ws.pong(), 200));
        resumers.push(resumer);
      }

      const latencies: number[] = [];
      const total = 150;
      for (let i = 0; i < total; i++) {
        const sent = Date.now();
        await request('POST', `${hub.url}/api/channels/bystander/events`, JSON.stringify({ type: 'tick', data: { sent } }));
        await new Promise((r) => setTimeout(r, 30));
      }
      const events = await bystander.waitForEvents(total, 'bystander');
      for (const e of events) latencies.push(e.time - e.event.data.sent);
      assert.deepEqual(events.map((e) => e.offset), Array.from({ length: total }, (_, i) => i + 1), 'the bystander got every event');
      const peak = peakRssMiB(hub.child.pid!);
      const p99 = percentile(latencies, 99);
      console.log(`# rss baseline ${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB; bystander publish→store p99 ${p99} ms`);
      assert.ok(peak < 600, `hub peak RSS ${peak.toFixed(0)} MiB`);

      // Delivery latency as the bystander sees it: publish to receipt, measured on this machine's clock.
      const delivered: number[] = [];
      for (let i = 0; i < 50; i++) {
        const sent = Date.now();
        await request('POST', `${hub.url}/api/channels/bystander/events`, JSON.stringify({ type: 'tick', data: { sent } }));
        await bystander.waitForEvents(total + i + 1, 'bystander');
        delivered.push(Date.now() - sent);
      }
      assert.ok(percentile(delivered, 99) < 200, `bystander delivery p99 ${percentile(delivered, 99)} ms`);

      // Stalled replays are cut as slow consumers within two heartbeats; the pongs did not save them.
      const deadline = Date.now() + 15_000;
      let open = Infinity;
      while (Date.now() < deadline && open > 1) {
        open = (await getJson(`${hub.url}/api/stats`)).json.connections.websocket;
        if (open > 1) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(open, 1, 'only the bystander is still connected');
      pongs.forEach(clearInterval);
      for (const r of resumers) r.ws.terminate();
      bystander.close();
    } finally {
      await hub.kill();
    }
  });
});
