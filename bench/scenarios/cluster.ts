/**
 * `npm run bench -- --only=cluster`: Herald on one hub and on two hubs behind one Redis, with the same
 * subscribers and publish rates, against a one-hub SQLite baseline. Subscribers are split over the hubs
 * (one load worker per hub); the publisher is on hub A, or one on each hub taking turns. Every step
 * records the CPU of each process from /proc, so that what limits a row is measured, not guessed.
 *
 * The machine is shared: other work comes and goes within seconds. So every layout is set up at once
 * (idle connections cost nearly nothing) and the steps interleave — each rate is measured on every layout
 * back to back, in a rotating order, for several rounds — and each figure is the median over the rounds.
 */
import { randomBytes } from 'node:crypto';
import { Fleet, ServerProcess } from '../lib/harness.js';
import { openPublisher, padFor, type Publisher } from '../lib/kinds.js';
import { log, measure, ms, nextSeq, publishAt, sleep } from '../lib/measure.js';
import { cpuWindow, type CpuShare } from '../lib/proc.js';
import { RedisServer } from '../lib/redis-server.js';

export interface ClusterSettings {
  subscribers: number;
  /** Messages a second published to the one channel, in total over the publishers. */
  rates: number[];
  seconds: number;
  drainMs: number;
  /** Each (layout, rate) is measured this many times, interleaved with the others; the median is reported. */
  rounds: number;
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

interface Step {
  layout: string;
  rate: number;
  offered: number;
  delivered: number;
  p50: number;
  p99: number;
  lost: number;
  /** Channel offsets a subscriber never got while later ones arrived: lost, not late. */
  skipped: number;
  duplicates: number;
  closed: number;
  cpu: CpuShare;
}

/** One layout, connected and warmed up, waiting for its steps. */
interface Setup {
  layout: Layout;
  hubs: ServerProcess[];
  fleet: Fleet;
  publishers: Publisher[];
  connected: number;
  pids: Record<string, number>;
}

const pad = padFor(128);

async function setUp(layout: Layout, redis: RedisServer, s: ClusterSettings): Promise<Setup> {
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const options = layout.store === 'redis' ? { store: 'redis' as const, redis: { url: redis.url, prefix } } : { store: 'sqlite' as const };
  const hubs = await Promise.all(Array.from({ length: layout.hubs }, () => ServerProcess.start('herald', options)));
  // One load worker per hub, so that each worker's CPU is the cost of one hub's subscribers.
  const fleet = await Fleet.start(2);
  const setup: Setup = { layout, hubs, fleet, publishers: [], connected: 0, pids: {} };
  try {
    setup.connected = await fleet.connect('herald', hubs.map((h) => h.url), s.subscribers);
    if (setup.connected < s.subscribers) throw new Error(`${layout.label}: only ${setup.connected} of ${s.subscribers} subscribers connected`);
    setup.publishers = await Promise.all(hubs.slice(0, layout.publishers).map((h) => openPublisher('herald', h.url, 'bench')));
    await measure(fleet, setup.publishers, 10, 1, pad, 300); // warm-up
  } catch (error) {
    await tearDown(setup);
    throw error;
  }
  setup.pids = { 'hub A': hubs[0]!.pid, 'worker 1': fleet.pids[0]!, 'worker 2': fleet.pids[1]!, publisher: process.pid };
  if (hubs[1]) setup.pids['hub B'] = hubs[1].pid;
  if (layout.store === 'redis') setup.pids.redis = redis.pid;
  return setup;
}

async function tearDown(setup: Setup): Promise<void> {
  for (const p of setup.publishers) p.close();
  await setup.fleet.close();
  await Promise.all(setup.hubs.map((h) => h.stop()));
}

async function step({ layout, fleet, publishers, connected, pids }: Setup, rate: number, s: ClusterSettings): Promise<Step> {
  // CPU over the publishing only: the drain after it would dilute a saturated process's share.
  const first = nextSeq();
  await fleet.reset(first, publishers.length);
  const window = cpuWindow(pids);
  const last = await publishAt(publishers, rate, s.seconds, pad);
  const cpu = window.stop();
  await sleep(s.drainMs);
  const report = await fleet.report(last);
  const row: Step = {
    layout: layout.label,
    rate,
    offered: Math.round(((last - first + 1) * connected) / s.seconds),
    delivered: Math.round(report.received / s.seconds),
    p50: ms(report.histogram, 50),
    p99: ms(report.histogram, 99),
    lost: report.lost,
    skipped: report.offsetGaps,
    duplicates: report.duplicates,
    closed: report.closedByServer,
    cpu,
  };
  log(`cluster ${layout.label} ${rate} msg/s × ${connected}: ${row.delivered}/s, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, missing ${row.lost}, offsets skipped ${row.skipped}, twice ${row.duplicates}, closed by the hub ${row.closed}, CPU ${formatCpu(cpu)}`);
  // An overloaded step leaves a backlog in the sockets: let it clear before the next one starts.
  if (row.p99 > 1000 || row.lost > 0) await sleep(3 * s.drainMs);
  return row;
}

const CPU_ORDER = ['hub A', 'hub B', 'redis', 'worker 1', 'worker 2', 'publisher'];
function formatCpu(cpu: CpuShare): string {
  const named = CPU_ORDER.filter((n) => n in cpu.processes).map((n) => `${n} ${cpu.processes[n]}`);
  return `${named.join(', ')}, others ${cpu.others} (% of a core, ${cpu.cores} cores)`;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The rounds of one (layout, rate) folded into medians, with the p99 range to show the spread. */
function fold(steps: Step[]) {
  const m = (f: (r: Step) => number) => median(steps.map(f));
  const cpu = (name: string) => (name in steps[0]!.cpu.processes ? String(Math.round(m((r) => r.cpu.processes[name]!))) : '—');
  const p99s = steps.map((r) => r.p99);
  return {
    offered: m((r) => r.offered),
    delivered: m((r) => r.delivered),
    p50: m((r) => r.p50),
    p99: m((r) => r.p99),
    p99Range: `${Math.min(...p99s).toFixed(0)}–${Math.max(...p99s).toFixed(0)}`,
    lost: steps.reduce((sum, r) => sum + r.lost, 0),
    skipped: steps.reduce((sum, r) => sum + r.skipped, 0),
    duplicates: steps.reduce((sum, r) => sum + r.duplicates, 0),
    closed: Math.max(...steps.map((r) => r.closed)),
    hubA: cpu('hub A'),
    hubB: cpu('hub B'),
    redis: cpu('redis'),
    workers: String(Math.round(m((r) => (r.cpu.processes['worker 1'] ?? 0) + (r.cpu.processes['worker 2'] ?? 0)))),
    publisher: cpu('publisher'),
    others: String(Math.round(m((r) => r.cpu.others))),
  };
}

function table(steps: Step[], s: ClusterSettings): string {
  const folded = new Map<string, ReturnType<typeof fold>>();
  for (const layout of LAYOUTS) for (const rate of s.rates) folded.set(`${layout.label}@${rate}`, fold(steps.filter((r) => r.layout === layout.label && r.rate === rate)));
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : '—');
  const lines = [
    '| layout | msg/s | deliveries/s offered | delivered/s | × 1-hub Redis | p50 (ms) | × | p99 (ms) | × | p99 range | missing / skipped / twice / closed | CPU % hub A | hub B | redis | 2 workers | publisher | others |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const layout of LAYOUTS) {
    for (const rate of s.rates) {
      const r = folded.get(`${layout.label}@${rate}`)!;
      const ref = folded.get(`${REFERENCE}@${rate}`);
      lines.push(
        `| ${layout.label} | ${rate} | ${r.offered} | ${r.delivered} | ${ratio(r.delivered, ref?.delivered)} | ${r.p50.toFixed(1)} | ${ratio(r.p50, ref?.p50)} | ${r.p99.toFixed(1)} | ${ratio(r.p99, ref?.p99)} | ${r.p99Range} | ${r.lost} / ${r.skipped} / ${r.duplicates} / ${r.closed} | ${r.hubA} | ${r.hubB} | ${r.redis} | ${r.workers} | ${r.publisher} | ${r.others} |`,
      );
    }
  }
  return lines.join('\n');
}

/** Sets every layout up on one private redis-server (a fresh key prefix each), runs the interleaved rounds, returns markdown. */
export async function clusterScenario(s: ClusterSettings): Promise<string> {
  const redis = await RedisServer.start();
  const setups: Setup[] = [];
  const steps: Step[] = [];
  try {
    for (const layout of LAYOUTS) setups.push(await setUp(layout, redis, s));
    for (let round = 0; round < s.rounds; round++) {
      for (const [i, rate] of s.rates.entries()) {
        // A rotating order, so that no layout always runs right after the heaviest step of another.
        const turn = (round + i) % setups.length;
        for (const setup of [...setups.slice(turn), ...setups.slice(0, turn)]) steps.push(await step(setup, rate, s));
      }
    }
  } finally {
    for (const setup of setups) await tearDown(setup);
    await redis.stop();
  }
  return [
    `${s.subscribers.toLocaleString('en')} subscribers on one channel, 128-byte payloads, ${s.seconds} s per step, every layout set up at once and its steps interleaved with the others' over ${s.rounds} rounds: each figure is the median of the rounds (p99 range: lowest–highest round).`,
    `CPU is % of one core while publishing (the machine has ${steps[0]?.cpu.cores ?? '?'} cores); “others” is what processes outside the benchmark used meanwhile. “Missing” deliveries (summed over the rounds) had not arrived ${s.drainMs / 1000} s after the step; “skipped” are offsets a subscriber never got although later ones arrived (lost, not late); “closed” counts subscribers the hub disconnected.`,
    '',
    table(steps, s),
  ].join('\n');
}
