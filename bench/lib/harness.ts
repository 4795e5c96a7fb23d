import { fork, type ChildProcess } from 'node:child_process';
import * as hdr from 'hdr-histogram-js';
import type { Kind } from './kinds.js';

const HERE = new URL('..', import.meta.url).pathname;

function request<T>(child: ChildProcess, message: object, reply: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: any) => {
      if (m.cmd !== reply) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`process exited (${code}) while waiting for ${reply}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

function spawnScript(script: string, args: string[] = [], profileDir?: string): ChildProcess {
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  return fork(`${HERE}${script}`, args, { execArgv: ['--expose-gc', '--import', 'tsx', ...profile], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function waitFor<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve, reject) => {
    child.on('message', (m: any) => m.cmd === cmd && resolve(m as T));
    child.once('exit', (code) => reject(new Error(`${cmd}: process exited with ${code}`)));
  });
}

export interface ServerStats {
  rss: number;
  heapUsed: number;
  cpuMicros: number;
}

export interface ServerOptions {
  /** Herald's history engine (its default is the durable SQLite store). */
  store?: 'sqlite' | 'memory' | 'redis';
  /** With `store: 'redis'`: one hub of the cluster that shares this Redis and key prefix. */
  redis?: { url: string; prefix: string };
  /** The process writes a V8 CPU profile here when it stops (`--cpu-prof`). */
  profileDir?: string;
}

/** One server under test, in its own process so that its CPU time and memory are its own. */
export class ServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(kind: Kind, options: ServerOptions = {}): Promise<ServerProcess> {
    const script = kind === 'herald' ? 'servers/herald.ts' : kind === 'raw' ? 'servers/raw-ws.ts' : 'servers/socketio.ts';
    const args = options.store ? [options.store, ...(options.redis ? [options.redis.url, options.redis.prefix] : [])] : [];
    const child = spawnScript(script, args, options.profileDir);
    const { port } = await waitFor<{ port: number }>(child, 'ready');
    return new ServerProcess(child, `http://127.0.0.1:${port}`);
  }

  get pid(): number {
    return this.child.pid!;
  }

  stats(): Promise<ServerStats> {
    return request<ServerStats>(this.child, { cmd: 'stats' }, 'stats');
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    this.child.kill('SIGKILL');
  }
}

export interface Report {
  histogram: hdr.Histogram;
  received: number;
  lost: number;
  duplicates: number;
  /** Herald only: channel offsets skipped or repeated (each event must be the previous offset plus 1). */
  offsetGaps: number;
  offsetRepeats: number;
  /** Clients that lost, doubled, skipped or repeated anything, out of `clients` counted. */
  clientsWrong: number;
  clients: number;
  /** The first few offset gaps, as `<channel> on <hub url>: offset a → b`. */
  gapSamples: string[];
  /** Herald connections closed by the hub since they connected (slow consumers, for one). */
  closedByServer: number;
}

/**
 * Subscriber connections spread over several load-generator processes, each on its own loopback
 * source address (127.0.0.2, .3, …) so that ephemeral ports never run out.
 */
export class Fleet {
  private skip: number[][];
  private constructor(private readonly workers: ChildProcess[]) {
    this.skip = workers.map(() => []);
  }

  static async start(size: number): Promise<Fleet> {
    const workers = Array.from({ length: size }, () => spawnScript('load-worker.ts'));
    await Promise.all(workers.map((w) => waitFor(w, 'ready')));
    return new Fleet(workers);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid!);
  }

  /**
   * `total` subscribers split evenly over the workers; with several URLs (hubs of one cluster), worker
   * `i` connects to `urls[i % urls.length]`. With `channels`, Herald clients spread over `<channel>.0…`.
   */
  async connect(kind: Kind, url: string | string[], total: number, channel = 'bench', channels?: number): Promise<number> {
    const urls = [url].flat();
    const per = Math.ceil(total / this.workers.length);
    const results = await Promise.all(
      this.workers.map((w, i) =>
        request<{ count: number; failed: number }>(
          w,
          { cmd: 'connect', kind, url: urls[i % urls.length], count: Math.min(per, total - i * per), localAddress: `127.0.0.${2 + i}`, channel, channels },
          'connected',
        ),
      ),
    );
    const failed = results.reduce((s, r) => s + r.failed, 0);
    if (failed) console.warn(`# ${failed} connections failed`);
    return results.reduce((s, r) => s + r.count, 0);
  }

  /** A new window from `firstSeq`, sent by `streams` publishers taking turns (`seq % streams`). */
  async reset(firstSeq: number, streams = 1): Promise<void> {
    await Promise.all(this.workers.map((w) => request(w, { cmd: 'reset', firstSeq, streams }, 'reset')));
  }

  async report(lastSeq: number): Promise<Report> {
    const parts = await Promise.all(this.workers.map((w, i) => request<any>(w, { cmd: 'report', lastSeq, skip: this.skip[i] }, 'report')));
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    for (const p of parts) histogram.add(hdr.decodeFromCompressedBase64(p.histogram));
    const sum = (key: 'received' | 'lost' | 'duplicates' | 'offsetGaps' | 'offsetRepeats' | 'clientsWrong' | 'clients') => parts.reduce((s, p) => s + p[key], 0);
    return {
      histogram,
      received: sum('received'),
      lost: sum('lost'),
      duplicates: sum('duplicates'),
      offsetGaps: sum('offsetGaps'),
      offsetRepeats: sum('offsetRepeats'),
      clientsWrong: sum('clientsWrong'),
      clients: sum('clients'),
      gapSamples: parts.flatMap((p) => p.gapSamples),
      closedByServer: parts.reduce((s, p) => s + p.closedByServer, 0),
    };
  }

  /** Makes `fraction` of the clients stop reading; they are left out of loss counts from now on. */
  async pause(fraction: number): Promise<void> {
    const replies = await Promise.all(this.workers.map((w) => request<{ indexes: number[] }>(w, { cmd: 'pause', fraction }, 'paused')));
    this.skip = replies.map((r) => r.indexes);
  }

  /** Every client drops its connection and reconnects (resuming where the kind can) at the same moment. */
  async storm(): Promise<{ ms: number; failed: number }> {
    const replies = await Promise.all(this.workers.map((w) => request<{ ms: number; failed: number }>(w, { cmd: 'storm' }, 'stormed')));
    return { ms: Math.max(...replies.map((r) => r.ms)), failed: replies.reduce((s, r) => s + r.failed, 0) };
  }

  async close(): Promise<void> {
    for (const w of this.workers) w.send({ cmd: 'close' });
    await Promise.all(this.workers.map((w) => new Promise((r) => w.once('exit', r))));
  }
}
