/**
 * `npm run bench -- --only=cluster`: Herald on one hub and on two hubs behind one Redis, with the same
 * subscribers and publish rates, against a one-hub SQLite baseline. Subscribers are split over the hubs
 * (one load worker per hub); the publisher is on hub A, or one on each hub taking turns. Every step
 * records the CPU of each process from /proc, so that what limits a row is measured, not guessed.
 */
import { randomBytes } from 'node:crypto';
import { Fleet, ServerProcess } from '../lib/harness.js';
import { openPublisher, padFor } from '../lib/kinds.js';
import { log, measure, ms, nextSeq, publishAt, sleep } from '../lib/measure.js';
import { cpuWindow, type CpuShare } from '../lib/proc.js';
import { RedisServer } from '../lib/redis-server.js';

export interface ClusterSettings {
  subscribers: number;
  /** Messages a second published to the one channel, in total over the publishers. */
  rates: number[];
  seconds: number;
  drainMs: number;
}

interface Layout {
  label: string;
  store: 'sqlite' | 'redis';
  hubs: 1 | 2;
  /** Hubs with a publisher (they take turns, so the total rate is the same). */
  publishers: 1 | 2;
}

const REFERENCE = '1 hub, Redis';
const LAYOUTS: Layout[] = [
  { label: '1 hub, SQLite', store: 'sqlite', hubs: 1, publishers: 1 },
  { label: REFERENCE, store: 'redis', hubs: 1, publishers: 1 },
  { label: '2 hubs, Redis, publisher on A', store: 'redis', hubs: 2, publishers: 1 },
  { label: '2 hubs, Redis, publishers on A and B', store: 'redis', hubs: 2, publishers: 2 },
];

interface Row {
  layout: string;
  rate: number;
  offered: number;
  delivered: number;
  p50: number;
  p99: number;
  lost: number;
  duplicates: number;
  closed: number;
  cpu: CpuShare;
}

async function runLayout(layout: Layout, redis: RedisServer, s: ClusterSettings): Promise<Row[]> {
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const options = layout.store === 'redis' ? { store: 'redis' as const, redis: { url: redis.url, prefix } } : { store: 'sqlite' as const };
  const hubs = await Promise.all(Array.from({ length: layout.hubs }, () => ServerProcess.start('herald', options)));
  // One load worker per hub, so that each worker's CPU is the cost of one hub's subscribers.
  const fleet = await Fleet.start(2);
  const rows: Row[] = [];
  try {
    const connected = await fleet.connect('herald', hubs.map((h) => h.url), s.subscribers);
    if (connected < s.subscribers) throw new Error(`only ${connected} of ${s.subscribers} subscribers connected`);
    const publishers = await Promise.all(hubs.slice(0, layout.publishers).map((h) => openPublisher('herald', h.url, 'bench')));
    const pad = padFor(128);
    await measure(fleet, publishers, 10, 1, pad, 300); // warm-up
    const pids: Record<string, number> = { 'hub A': hubs[0]!.pid, 'worker 1': fleet.pids[0]!, 'worker 2': fleet.pids[1]!, publisher: process.pid };
    if (hubs[1]) pids['hub B'] = hubs[1].pid;
    if (layout.store === 'redis') pids.redis = redis.pid;
    for (const rate of s.rates) {
      // CPU over the publishing only: the drain after it would dilute a saturated process's share.
      const first = nextSeq();
      await fleet.reset(first, publishers.length);
      const window = cpuWindow(pids);
      const last = await publishAt(publishers, rate, s.seconds, pad);
      const cpu = window.stop();
      await sleep(s.drainMs);
      const report = await fleet.report(last);
      const row = { layout: layout.label, rate, offered: Math.round(((last - first + 1) * connected) / s.seconds), delivered: Math.round(report.received / s.seconds), p50: ms(report.histogram, 50), p99: ms(report.histogram, 99), lost: report.lost, duplicates: report.duplicates, closed: report.closedByServer, cpu };
      rows.push(row);
      log(`cluster ${layout.label} ${rate} msg/s × ${connected}: ${row.delivered}/s, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, lost ${row.lost}, twice ${row.duplicates}, closed by the hub ${row.closed}, CPU ${formatCpu(cpu)}`);
      // An overloaded step leaves a backlog in the sockets: let it clear before the next one starts.
      if (row.p99 > 1000 || row.lost > 0) await sleep(3 * s.drainMs);
    }
    for (const p of publishers) p.close();
  } finally {
    await fleet.close();
    await Promise.all(hubs.map((h) => h.stop()));
  }
  return rows;
}

const CPU_ORDER = ['hub A', 'hub B', 'redis', 'worker 1', 'worker 2', 'publisher'];
function formatCpu(cpu: CpuShare): string {
  const named = CPU_ORDER.filter((n) => n in cpu.processes).map((n) => `${n} ${cpu.processes[n]}`);
  return `${named.join(', ')}, others ${cpu.others} (% of a core, ${cpu.cores} cores)`;
}

function table(rows: Row[]): string {
  const reference = new Map(rows.filter((r) => r.layout === REFERENCE).map((r) => [r.rate, r]));
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : '—');
  const cell = (cpu: CpuShare, name: string) => (name in cpu.processes ? String(cpu.processes[name]) : '—');
  const lines = [
    '| layout | msg/s | deliveries/s offered | delivered/s | × 1-hub Redis | p50 (ms) | × | p99 (ms) | × | missing / twice / closed | CPU % hub A | hub B | redis | workers | publisher | others |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const ref = reference.get(r.rate);
    const workers = (r.cpu.processes['worker 1'] ?? 0) + (r.cpu.processes['worker 2'] ?? 0);
    lines.push(
      `| ${r.layout} | ${r.rate} | ${r.offered} | ${r.delivered} | ${ratio(r.delivered, ref?.delivered)} | ${r.p50.toFixed(1)} | ${ratio(r.p50, ref?.p50)} | ${r.p99.toFixed(1)} | ${ratio(r.p99, ref?.p99)} | ${r.lost} / ${r.duplicates} / ${r.closed} | ${cell(r.cpu, 'hub A')} | ${cell(r.cpu, 'hub B')} | ${cell(r.cpu, 'redis')} | ${workers} | ${cell(r.cpu, 'publisher')} | ${r.cpu.others} |`,
    );
  }
  return lines.join('\n');
}

/** Runs every layout on one private redis-server (a fresh key prefix each) and returns the markdown table. */
export async function clusterScenario(s: ClusterSettings): Promise<string> {
  const redis = await RedisServer.start();
  const rows: Row[] = [];
  try {
    for (const layout of LAYOUTS) rows.push(...(await runLayout(layout, redis, s)));
  } finally {
    await redis.stop();
  }
  return `${s.subscribers.toLocaleString('en')} subscribers on one channel, 128-byte payloads, ${s.seconds} s per step. CPU is % of one core over the step (the machine has ${rows[0]?.cpu.cores ?? '?'}); “others” is what processes outside the benchmark used meanwhile. “Missing” deliveries had not arrived ${s.drainMs / 1000} s after the step; “closed” counts subscribers the hub disconnected.\n\n${table(rows)}`;
}
