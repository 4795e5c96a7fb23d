import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const CLI = new URL('../../../cli/dist/main.js', import.meta.url).pathname;

export interface HubProcess {
  child: ChildProcess;
  url: string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
}

/** Spawns the real `herald serve` (port 0 unless given) and reads the URL it prints. */
export async function spawnHub(dataDir: string, extra: string[] = [], port = 0): Promise<HubProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--data', dataDir, '--log-level', 'warn', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', () => reject(new Error(`herald serve exited early:\n${output}`)));
  });
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  return { child, url, port: Number(new URL(url).port), exited, kill };
}

/** Polls `test` every 10 ms until it holds; fails with `what` after `timeoutMs`. */
export async function until(test: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A port nothing listens on now, on 127.0.0.1 (another process may still take it before the caller binds). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
