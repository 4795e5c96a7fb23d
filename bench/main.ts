/**
 * `npm run bench [-- --quick] [-- --write]`: the same scenarios, in the same harness, against Herald,
 * a minimal raw `ws` server and Socket.IO 4.8, reported as ratios (machines here are shared and noisy).
 */
import { fork } from 'node:child_process';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { Fleet, ServerProcess } from './lib/harness.js';
import { KINDS, LABEL, openPublisher, padFor, type Kind } from './lib/kinds.js';
import { log, measure, ms, nextSeq, publishAt, sleep } from './lib/measure.js';
import { REDIS_SERVER, RedisServer } from './lib/redis-server.js';
import { summarize } from './profile-summary.js';
import { clusterScenario } from './scenarios/cluster.js';
import { coalesceScenario } from './scenarios/coalesce.js';
import { killScenario } from './scenarios/kill.js';
import { loopDelay, payloadLatency } from './scenarios/payload.js';
import { soakScenario } from './scenarios/soak.js';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const SETTINGS = quick
  ? { subscribers: 500, workers: 2, latencySeconds: 2, fanoutRates: [100, 400], stepSeconds: 1, drainMs: 400, stormRate: 20, memoryLarge: 0, latencyTier: 0, slow: null, ingestSeconds: 2, payload: { subscribers: 100, rate: 50, seconds: 3, drainMs: 500 } }
  : {
      subscribers: 10_000,
      workers: 3,
      latencySeconds: 8,
      // 10 000 subscribers × 1…10 msg/s = 10 000…100 000 deliveries a second.
      fanoutRates: [1, 2, 3, 4, 6, 8, 10],
      stepSeconds: 4,
      drainMs: 2000,
      stormRate: 2,
      memoryLarge: 18_000,
      latencyTier: 2000,
      // Enough volume to pass the kernel's socket buffers (several MB per socket on loopback) within the run.
      slow: { subscribers: 300, rate: 50, bytes: 16_384, seconds: 30 },
      ingestSeconds: 8,
      // The slow-consumer scenario's load, all consumers healthy: 16 KB (log chunks, stack traces) and 1 KB.
      payload: { subscribers: 300, rate: 50, seconds: 10, drainMs: 1000 },
    };
/** One hub against two on one Redis (and a SQLite hub), same subscribers and rates: `--only=cluster`. */
const CLUSTER = quick ? { subscribers: 500, rates: [20, 80], seconds: 2, drainMs: 500, rounds: 1 } : { subscribers: 2000, rates: [10, 20, 40], seconds: 4, drainMs: 2000, rounds: 3 };
/** Write coalescing on and off with bursty publishing: `--only=coalesce` (part of a full run). */
const COALESCE = quick
  ? { subscribers: [500], rate: () => 100, burst: 10, seconds: 2, drainMs: 500, rounds: 2 }
  : { subscribers: [2000, 10_000], rate: (n: number) => (n > 5000 ? 5 : 20), burst: 10, seconds: 5, drainMs: 2000, rounds: 4 };
/** Two hubs on one Redis for minutes, nothing lost, RSS bounded: `--only=soak` (never part of a full run). */
const SOAK = { connections: 2000, channels: 20, rate: 200, seconds: quick ? 20 : 120, sampleMs: 5000 };
/** Events stored before the event-loop scenario runs its worst-case commands (the issue's figure: 1 000 000). */
const SCALE_EVENTS = quick ? 100_000 : 1_000_000;
const P99_LIMIT_MS = 100;

type Results = Record<string, Partial<Record<Kind | 'sqlite' | 'memory', number | string>>>;
const results: Results = {};
const put = (metric: string, kind: Kind | 'sqlite' | 'memory', value: number | string) => ((results[metric] ??= {})[kind] = value);

async function perServer(kind: Kind): Promise<void> {
  const n = SETTINGS.subscribers;
  const server = await ServerProcess.start(kind);
  const fleet = await Fleet.start(SETTINGS.workers);
  try {
    const before = await server.stats();
    const connected = await fleet.connect(kind, server.url, n);
    await sleep(500);
    const idle = await server.stats();
    put(`Memory per idle subscribed connection at ${connected.toLocaleString()} (KB)`, kind, Math.round((idle.rss - before.rss) / connected / 102.4) / 10);

    const publisher = await openPublisher(kind, server.url, 'bench');
    const pad = padFor(128);
    await measure(fleet, publisher, 10, 1, pad, 300); // warm-up
    const cpuBefore = (await server.stats()).cpuMicros;
    const latency = await measure(fleet, publisher, 10, SETTINGS.latencySeconds, pad, SETTINGS.drainMs);
    const cpuAfter = (await server.stats()).cpuMicros;
    put(`Latency p50 (ms), ${n.toLocaleString()} subs × 10 msg/s`, kind, +ms(latency.histogram, 50).toFixed(2));
    put(`Latency p99 (ms), ${n.toLocaleString()} subs × 10 msg/s`, kind, +ms(latency.histogram, 99).toFixed(2));
    put(`Latency p99.9 (ms), ${n.toLocaleString()} subs × 10 msg/s`, kind, +ms(latency.histogram, 99.9).toFixed(2));
    put(`Server CPU during latency run (% of a core)`, kind, Math.round(((cpuAfter - cpuBefore) / 1e6 / (SETTINGS.latencySeconds + SETTINGS.drainMs / 1000 + 0.2)) * 100));
    log(`${LABEL[kind]} latency: p50 ${ms(latency.histogram, 50)} p99 ${ms(latency.histogram, 99)} lost ${latency.lost}`);

    let best = 0;
    for (const rate of SETTINGS.fanoutRates) {
      const step = await measure(fleet, publisher, rate, SETTINGS.stepSeconds, pad, SETTINGS.drainMs);
      const p99 = ms(step.histogram, 99);
      log(`${LABEL[kind]} fan-out ${rate} msg/s × ${n}: p99 ${p99.toFixed(1)} ms, delivered ${step.received}, lost ${step.lost}`);
      if (rate === SETTINGS.fanoutRates[0]) put(`Fan-out p99 (ms) of ${rate} msg/s to ${n.toLocaleString()} subscribers`, kind, +p99.toFixed(1));
      if (p99 > P99_LIMIT_MS || step.lost > 0) break;
      best = rate * n;
    }
    put(`Fan-out at ${n.toLocaleString()} subscribers: highest delivered msg/s with p99 ≤ ${P99_LIMIT_MS} ms, nothing lost`, kind, best);
    await sleep(3 * SETTINGS.drainMs); // let an overloaded step's backlog clear before the next scenario

    // Reconnect storm: everyone drops at once while events keep flowing; then count gaps per client.
    await fleet.reset(nextSeq());
    const stormPublishing = publishAt(publisher, SETTINGS.stormRate, 4, pad);
    await sleep(1000);
    const storm = await fleet.storm();
    const last = await stormPublishing;
    await sleep(SETTINGS.drainMs);
    const after = await fleet.report(last);
    put(`Reconnect storm: time until all ${n.toLocaleString()} resumed (ms)`, kind, Math.round(storm.ms));
    put(`Reconnect storm: events lost`, kind, after.lost);
    put(`Reconnect storm: events delivered twice`, kind, after.duplicates);
    log(`${LABEL[kind]} storm: ${Math.round(storm.ms)} ms, lost ${after.lost}, duplicates ${after.duplicates}, failed ${storm.failed}`);
    publisher.close();
  } finally {
    await fleet.close();
    await server.stop();
  }
}

/** Latency at a load this machine can carry with its load generators (they share its two cores). */
async function latencyTier(kind: Kind, n: number): Promise<void> {
  const server = await ServerProcess.start(kind);
  const fleet = await Fleet.start(2);
  try {
    await fleet.connect(kind, server.url, n);
    const publisher = await openPublisher(kind, server.url, 'bench');
    const pad = padFor(128);
    await measure(fleet, publisher, 10, 1, pad, 300);
    const report = await measure(fleet, publisher, 10, SETTINGS.latencySeconds, pad, SETTINGS.drainMs);
    for (const p of [50, 99, 99.9]) put(`Latency p${p} (ms), ${n.toLocaleString()} subs × 10 msg/s`, kind, +ms(report.histogram, p).toFixed(2));
    log(`${LABEL[kind]} latency at ${n}: p50 ${ms(report.histogram, 50)} p99 ${ms(report.histogram, 99)} lost ${report.lost}`);
    let best = 0;
    for (const rate of [20, 40, 60, 80, 120, 160, 240]) {
      const step = await measure(fleet, publisher, rate, SETTINGS.stepSeconds, pad, SETTINGS.drainMs);
      log(`${LABEL[kind]} fan-out ${rate} msg/s × ${n}: p99 ${ms(step.histogram, 99).toFixed(1)} ms, lost ${step.lost}`);
      if (ms(step.histogram, 99) > P99_LIMIT_MS || step.lost > 0) break;
      best = rate * n;
    }
    put(`Fan-out at ${n.toLocaleString()} subscribers: highest delivered msg/s with p99 ≤ ${P99_LIMIT_MS} ms, nothing lost`, kind, best);
    publisher.close();
  } finally {
    await fleet.close();
    await server.stop();
  }
}

/** `--profile`: a V8 CPU profile of Herald and of raw ws under the same fan-out, top self time printed. */
async function profile(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-prof-'));
  for (const kind of ['herald', 'raw'] as Kind[]) {
    const kindDir = join(dir, kind);
    const server = await ServerProcess.start(kind, { profileDir: kindDir });
    const fleet = await Fleet.start(2);
    const publisher = await openPublisher(kind, server.url, 'bench');
    await fleet.connect(kind, server.url, 2000);
    await measure(fleet, publisher, 20, 10, padFor(128), 1000);
    publisher.close();
    await fleet.close();
    await server.stop();
    const file = readdirSync(kindDir).find((f) => f.endsWith('.cpuprofile'))!;
    console.log(`\n## ${LABEL[kind]}: self time, 2 000 subscribers × 20 msg/s for 10 s (${join(kindDir, file)})\n${summarize(join(kindDir, file), 20)}`);
  }
  process.exit(0);
}

/** Idle memory with as many connections as one process's file-descriptor limit allows. */
async function memoryLarge(kind: Kind, n: number): Promise<void> {
  const server = await ServerProcess.start(kind);
  const fleet = await Fleet.start(Math.max(2, Math.ceil(n / 9000)));
  try {
    const before = await server.stats();
    const connected = await fleet.connect(kind, server.url, n);
    await sleep(1000);
    const idle = await server.stats();
    put(`Memory per idle subscribed connection at ${n.toLocaleString()} (KB)`, kind, Math.round((idle.rss - before.rss) / connected / 102.4) / 10);
    log(`${LABEL[kind]} memory at ${connected}: ${((idle.rss - before.rss) / connected / 1024).toFixed(1)} KB/conn`);
  } finally {
    await fleet.close();
    await server.stop();
  }
}

/** 1 % of subscribers stop reading: what happens to everyone else's latency, and to the server's memory. */
async function slowConsumers(kind: Kind, s: { subscribers: number; rate: number; bytes: number; seconds: number }): Promise<void> {
  const server = await ServerProcess.start(kind);
  const fleet = await Fleet.start(2);
  try {
    await fleet.connect(kind, server.url, s.subscribers);
    const publisher = await openPublisher(kind, server.url, 'bench');
    const pad = padFor(s.bytes);
    const baseline = await measure(fleet, publisher, s.rate, s.seconds / 2, pad, 1000);
    await fleet.pause(0.01);
    const rss: number[] = [];
    const sampler = setInterval(() => void server.stats().then((st) => rss.push(st.rss)), 1000);
    const slow = await measure(fleet, publisher, s.rate, s.seconds, pad, 1000);
    clearInterval(sampler);
    const ratio = ms(slow.histogram, 99) / Math.max(0.001, ms(baseline.histogram, 99));
    put(`Slow consumers (1 % stop reading): healthy p99 with / without`, kind, +ratio.toFixed(2));
    put(`Slow consumers: server RSS first → last second (MB)`, kind, `${Math.round(rss[0]! / 2 ** 20)} → ${Math.round(rss.at(-1)! / 2 ** 20)}`);
    put(`Slow consumers: server RSS growth (MB)`, kind, Math.round((rss.at(-1)! - rss[0]!) / 2 ** 20));
    log(`${LABEL[kind]} slow consumers: healthy p99 ${ms(baseline.histogram, 99)} → ${ms(slow.histogram, 99)} ms, lost ${slow.lost}, RSS ${rss.map((r) => Math.round(r / 2 ** 20)).join(' ')}`);
    publisher.close();
  } finally {
    await fleet.close();
    await server.stop();
  }
}

/** Herald only: HTTP batch publishing, durable SQLite against the in-memory store. */
async function ingest(store: 'sqlite' | 'memory', profileDir?: string, bytes = 128): Promise<void> {
  const server = await ServerProcess.start('herald', { store, profileDir });
  const workers = Array.from({ length: 2 }, () => fork(new URL('./ingest-worker.ts', import.meta.url).pathname, [], { execArgv: ['--import', 'tsx'] }));
  try {
    await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
    const hubBefore = await server.stats();
    const replies = await Promise.all(
      workers.map((w, worker) => new Promise<any>((resolve) => {
        w.on('message', (m: any) => m.cmd === 'ingested' && resolve(m));
        w.send({ cmd: 'ingest', url: server.url, seconds: SETTINGS.ingestSeconds, concurrency: Number(process.env.BENCH_INGEST_LANES ?? 4), batch: 100, bytes, worker });
      })),
    );
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    for (const r of replies) histogram.add(hdr.decodeFromCompressedBase64(r.histogram));
    const acked = replies.reduce((s, r) => s + r.acked, 0);
    // What the two cores went to: the hub (all its threads) and the two publishing processes.
    const hubCpu = (((await server.stats()).cpuMicros - hubBefore.cpuMicros) / 1e4 / SETTINGS.ingestSeconds).toFixed(0);
    const loadCpu = (replies.reduce((s, r) => s + r.cpuMicros, 0) / 1e4 / SETTINGS.ingestSeconds).toFixed(0);
    const size = bytes >= 1024 ? `${bytes / 1024} KB` : `${bytes} B`;
    put(`Durable ingest: events/s acknowledged (HTTP, 100-event batches of ${size})`, store, Math.round(acked / SETTINGS.ingestSeconds));
    put(`Durable ingest: p99 acknowledgement (ms), ${size} events`, store, +ms(histogram, 99).toFixed(1));
    put(`Durable ingest: CPU % of a core, hub / publishers, ${size} events`, store, `${hubCpu} / ${loadCpu}`);
    log(`Herald ${store} ingest of ${size} events: ${Math.round(acked / SETTINGS.ingestSeconds)} events/s, p99 ack ${ms(histogram, 99)} ms, CPU % of a core: hub ${hubCpu}, publishers ${loadCpu}`);
    if (store === 'sqlite') log(`  store: ${storeTimings(await (await fetch(`${server.url}/metrics`)).text())}`);
  } finally {
    for (const w of workers) w.kill();
    await server.stop();
  }
}

/** Where the SQLite store's time went (herald_store_* in /metrics): mean write and commit per group commit, events per commit, checkpoints. */
function storeTimings(metrics: string): string {
  const read = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
  const mean = (name: string, labels = '') => read(`${name}_sum${labels}`) / read(`${name}_count${labels}`);
  const commits = read('herald_store_commit_events_count');
  return [
    `${commits} group commits of ${mean('herald_store_commit_events').toFixed(0)} events`,
    `write ${(mean('herald_store_commit_seconds', '{phase="write"}') * 1000).toFixed(2)} ms`,
    `commit ${(mean('herald_store_commit_seconds', '{phase="commit"}') * 1000).toFixed(2)} ms`,
    `${read('herald_store_checkpoint_seconds_count{mode="passive"}')} passive checkpoints of ${(mean('herald_store_checkpoint_seconds', '{mode="passive"}') * 1000).toFixed(1)} ms`,
    `${read('herald_store_checkpoint_seconds_count{mode="restart"}') || 0} restarts`,
  ].join(', ');
}


/**
 * Herald only: the event loop with SCALE_EVENTS stored events over 1 000 channels, idle against while the
 * heaviest reads run at once — pattern resumes from time 0 and from 1 000 positions, full channel pages,
 * history pages, SSE replays, run lists and search. The idle figure is the baseline of the same run.
 */
async function loopAtScale(store: 'sqlite' | 'memory'): Promise<void> {
  const server = await ServerProcess.start('herald', { store, profileDir: process.env.BENCH_PROFILE_DIR });
  try {
    const channels = 1000;
    const batch = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ type: 'log', data: { message: `line ${i}`, pad: 'x'.repeat(64) } })));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = next++; i < SCALE_EVENTS / 1000; i = next++) {
          const response = await fetch(`${server.url}/api/channels/scale.c${i % channels}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: batch });
          if (response.status !== 201) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
        }
      }),
    );
    await sleep(1000);
    await loopDelay(server.url);
    await sleep(3000);
    const idle = await loopDelay(server.url);
    const ws = (await import('ws')).WebSocket;
    const resume = (channel: string, since: unknown) =>
      new Promise<void>((resolve, reject) => {
        const socket = new ws(`${server.url.replace(/^http/, 'ws')}/ws`);
        socket.on('message', (data) => {
          const text = data.toString();
          if (text.includes('"op":"subscribed"')) setTimeout(() => (socket.close(), resolve()), 500);
          if (text.includes('"op":"error"')) reject(new Error(text));
        });
        socket.on('open', () => socket.send(JSON.stringify({ op: 'subscribe', id: 1, channel, since })));
      });
    const positions = Object.fromEntries(Array.from({ length: channels }, (_, c) => [`scale.c${c}`, { offset: Math.max(0, SCALE_EVENTS / channels - 10) }]));
    const get = async (path: string) => void (await (await fetch(`${server.url}${path}`)).arrayBuffer());
    const sse = async (path: string) => {
      const controller = new AbortController();
      const response = await fetch(`${server.url}${path}`, { signal: controller.signal });
      const reader = response.body!.getReader();
      for (let bytes = 0; bytes < 50_000; ) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.length;
      }
      controller.abort();
    };
    const started = performance.now();
    await Promise.all([
      resume('>', { time: 0 }),
      resume('scale.>', { time: 0 }),
      resume('scale.>', { positions }),
      resume('scale.*', { positions, time: 0 }),
      ...Array.from({ length: 5 }, (_, i) => get(`/api/channels?limit=1000${i ? `&prefix=scale.c${i}` : ''}`)),
      ...Array.from({ length: 5 }, (_, i) => get(`/api/channels/scale.c${i}/events?since=0&limit=1000`)),
      ...Array.from({ length: 3 }, (_, i) => sse(`/api/channels/scale.c${i}/stream?since=0`)),
      get('/api/runs?limit=200'),
      get('/api/search?q=line'),
    ]);
    const busy = await loopDelay(server.url);
    const label = `${SCALE_EVENTS.toLocaleString('en')} stored events`;
    put(`Event loop at ${label}: p99 idle → worst-case reads (ms)`, store, `${idle.p99.toFixed(0)} → ${busy.p99.toFixed(0)}`);
    put(`Event loop at ${label}: max idle → worst-case reads (ms)`, store, `${idle.max.toFixed(0)} → ${busy.max.toFixed(0)}`);
    log(`Herald ${store} at ${label}: loop p99 ${idle.p99.toFixed(1)} → ${busy.p99.toFixed(1)} ms, max ${idle.max.toFixed(1)} → ${busy.max.toFixed(1)} ms (worst cases took ${Math.round(performance.now() - started)} ms)`);
  } finally {
    await server.stop();
  }
}

function table(): string {
  const ratio = (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? `${(a / b).toFixed(2)}×` : '—');
  const lines = ['| metric | Herald | raw ws | Socket.IO 4.8 | Herald / raw ws | Herald / Socket.IO |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  for (const [metric, row] of Object.entries(results)) {
    if ('sqlite' in row || 'memory' in row) {
      lines.push(`| ${metric} | sqlite ${row.sqlite ?? '—'} | — | — | memory ${row.memory ?? '—'} | sqlite / memory ${ratio(row.sqlite, row.memory)} |`);
      continue;
    }
    lines.push(`| ${metric} | ${row.herald ?? '—'} | ${row.raw ?? '—'} | ${row.socketio ?? '—'} | ${ratio(row.herald, row.raw)} | ${ratio(row.herald, row.socketio)} |`);
  }
  return lines.join('\n');
}

if (process.argv.includes('--profile')) await profile();
if (process.argv.includes('--profile-ingest')) {
  // `--profile-ingest`: the durable and the memory ingest with the hub under --cpu-prof, self time of each.
  for (const store of ['sqlite', 'memory'] as const) {
    const dir = mkdtempSync(join(tmpdir(), `herald-prof-ingest-${store}-`));
    await ingest(store, dir);
    // One profile per thread (main, then the workers: the SQLite writer and checkpointer among them).
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort()) {
      console.log(`\n## Herald ${store} ingest: self time of one thread (${join(dir, file)})\n${summarize(join(dir, file), 12)}`);
    }
  }
  process.exit(0);
}
const started = Date.now();
const kinds = KINDS.filter((k) => !only || only.includes(k));
for (const kind of kinds) await perServer(kind);
if (SETTINGS.latencyTier) for (const kind of kinds) await latencyTier(kind, SETTINGS.latencyTier);
if (SETTINGS.memoryLarge) for (const kind of kinds) await memoryLarge(kind, SETTINGS.memoryLarge);
if (SETTINGS.slow) for (const kind of kinds) await slowConsumers(kind, SETTINGS.slow);
for (const bytes of [16_384, 1024]) {
  const shape = `${SETTINGS.payload.subscribers} subs × ${SETTINGS.payload.rate} msg/s`;
  const size = bytes >= 16_384 ? '16 KB' : '1 KB';
  for (const kind of kinds) {
    const row = await payloadLatency(kind, undefined, bytes, SETTINGS.payload);
    put(`Healthy p99 (ms) at ${size}, ${shape}`, kind, row.p99);
    if (row.loop) put(`Hub event-loop p99 / max (ms) during the ${size} run`, kind, `${row.loop.p99.toFixed(1)} / ${row.loop.max.toFixed(1)}`);
  }
  if (!only || only.includes('herald')) {
    // The same run against both of Herald's stores: what the durable commit path costs.
    for (const store of ['sqlite', 'memory'] as const) put(`Healthy p99 (ms) at ${size}, ${shape}, by store`, store, (await payloadLatency('herald', store, bytes, SETTINGS.payload)).p99);
  }
}
if (!only || only.includes('herald') || only.includes('kill')) {
  const killed = await killScenario({ subscribers: SETTINGS.payload.subscribers, lanes: 4, bytes: 16_384, killAfterMs: quick ? 2000 : 6000 });
  put('SIGKILL during 16 KB publishing: acknowledged events lost (of acknowledged)', 'herald', `${killed.lost + killed.changed} of ${killed.acknowledged}`);
  if (killed.lost + killed.changed > 0) process.exitCode = 1;
}
if (!only || only.includes('herald') || only.includes('ingest')) {
  for (const bytes of [128, 1024]) {
    await ingest('sqlite', undefined, bytes);
    await ingest('memory', undefined, bytes);
  }
}
if (!only || only.includes('herald') || only.includes('scale')) {
  await loopAtScale('sqlite');
  await loopAtScale('memory');
}
// The cluster runs with the rest when redis-server is installed; asked for by name, it must run.
const blocks: Array<{ name: string; text: string }> = [];
if (only?.includes('cluster') || (!only && RedisServer.available())) blocks.push({ name: 'cluster', text: await clusterScenario(CLUSTER) });
else if (!only) log(`cluster scenario skipped: ${REDIS_SERVER} is not installed`);
if (only?.includes('coalesce') || !only) blocks.push({ name: 'coalesce', text: await coalesceScenario(COALESCE) });
let soakFailures: string[] = [];
if (only?.includes('soak')) {
  const soak = await soakScenario(SOAK);
  soakFailures = soak.failures;
  blocks.push({ name: 'soak', text: soak.text });
}
const elapsed = Math.round((Date.now() - started) / 1000);
const output = Object.keys(results).length ? table() : '';
for (const b of blocks) console.log(`\n${b.text}`);
console.log(`\n${output}\n\n${quick ? 'quick run' : 'full run'} in ${elapsed} s`);

if (write) {
  // Only the marked blocks are replaced: the method and the analysis around them are written by people.
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const machine = `${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${process.platform}`;
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  const header = `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`npm run bench -- ${process.argv.slice(2).join(' ')}\` (${elapsed} s) on ${machine}; load average at the end ${load}.`;
  let current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n\n<!-- results:start -->\n<!-- results:end -->\n';
  if (output) blocks.unshift({ name: 'results', text: output });
  for (const b of blocks) {
    const marker = new RegExp(`<!-- ${b.name}:start -->[\\s\\S]*<!-- ${b.name}:end -->`);
    const block = `<!-- ${b.name}:start -->\n${header}\n\n${b.text}\n<!-- ${b.name}:end -->`;
    current = marker.test(current) ? current.replace(marker, () => block) : `${current.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(path, current);
}
if (soakFailures.length) {
  console.error(`\nsoak FAILED:\n${soakFailures.map((f) => `- ${f}`).join('\n')}`);
  process.exit(1);
}
process.exit(0);
