/**
 * Durability under the 16 KB load: the real `herald serve` (durable SQLite, `--sync full`) with healthy
 * subscribers and publishers of 16 KB events, SIGKILLed mid-run, started again on the same data folder;
 * then every acknowledged event is looked for at the offset its acknowledgement named, with the same
 * content. The publishers use HTTP (each 201 names the offsets), several lanes at once so that the kill
 * lands between and inside group commits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHub, type HubProcess } from '../../packages/server/test/support/process.js';
import { Fleet } from '../lib/harness.js';
import { log, sleep } from '../lib/measure.js';

export interface KillSettings {
  subscribers: number;
  lanes: number;
  bytes: number;
  /** How long the load runs before the SIGKILL. */
  killAfterMs: number;
}

export interface KillResult {
  acknowledged: number;
  found: number;
  lost: number;
  /** Acknowledged events whose stored content differs (should be 0, like lost). */
  changed: number;
}

const CHANNEL = 'bench.kill';
const QUOTAS_OFF = ['--max-connections-per-ip', '0', '--max-events-per-second', '0', '--max-ip-events-per-second', '0', '--heartbeat', '600s'];

export async function killScenario(s: KillSettings): Promise<KillResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'herald-bench-kill-'));
  let hub: HubProcess | undefined = await spawnHub(dataDir, QUOTAS_OFF);
  const fleet = await Fleet.start(2);
  const acked = new Map<number, string>();
  try {
    await fleet.connect('herald', hub.url, s.subscribers);
    const url = hub.url;
    let stop = false;
    const pad = 'x'.repeat(s.bytes);
    let next = 0;
    const lanes = Array.from({ length: s.lanes }, async () => {
      while (!stop) {
        const n = next++;
        const body = JSON.stringify({ type: 'chunk', id: `kill-${n}`, data: { n, pad } });
        try {
          const response = await fetch(`${url}/api/channels/${CHANNEL}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          const answer = (await response.json()) as { offsets?: number[] };
          if (response.status === 201 && answer.offsets) acked.set(answer.offsets[0]!, `kill-${n}`);
        } catch {
          return; // the hub is gone: whatever was not answered was never acknowledged
        }
      }
    });
    await sleep(s.killAfterMs);
    await hub.kill();
    stop = true;
    await Promise.all(lanes);
    await fleet.close().catch(() => {});
    hub = await spawnHub(dataDir, QUOTAS_OFF);
    // Every acknowledged offset, read back a page at a time.
    const stored = new Map<number, string>();
    for (let since = 0; ; ) {
      const page = (await (await fetch(`${hub.url}/api/channels/${CHANNEL}/events?since=${since}&limit=1000`)).json()) as { events: Array<{ offset: number; event: { id?: string; data: { pad: string } } }>; next?: number };
      for (const e of page.events) stored.set(e.offset, e.event.data.pad.length === s.bytes ? (e.event.id ?? '') : 'changed');
      if (page.events.length === 0) break;
      since = page.events.at(-1)!.offset;
    }
    let found = 0;
    let changed = 0;
    for (const [offset, id] of acked) {
      const there = stored.get(offset);
      if (there === id) found++;
      else if (there !== undefined) changed++;
    }
    const result = { acknowledged: acked.size, found, lost: acked.size - found - changed, changed };
    log(`Herald SIGKILL during ${s.bytes} B publishing (${s.lanes} lanes, ${s.subscribers} subscribers): ${result.acknowledged} acknowledged, ${result.found} found after restart, ${result.lost} lost, ${result.changed} changed`);
    return result;
  } finally {
    await hub?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
