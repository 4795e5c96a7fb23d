/**
 * A private redis-server for one scenario: on a free loopback port, no persistence (`--save ""
 * --appendonly no`, so disk never enters the figures), stopped by its PID when the scenario ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';

/** Debian's package puts it here; the scenarios that need it say so and stop when it is missing. */
export const REDIS_SERVER = '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** True when a `PING` on the port is answered `+PONG`. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(500, () => socket.destroy());
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      resolve(data.toString().startsWith('+PONG'));
      socket.end();
    });
  });
}

export class RedisServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  static available(): boolean {
    return existsSync(REDIS_SERVER);
  }

  static async start(): Promise<RedisServer> {
    if (!RedisServer.available()) throw new Error(`${REDIS_SERVER} is missing: install Debian's redis-server package (apt-get install redis-server) to run this scenario`);
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--maxmemory-policy', 'noeviction'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    const server = new RedisServer(child, port);
    const deadline = performance.now() + READY_TIMEOUT_MS;
    while (!(await answersPing(port))) {
      if (child.exitCode !== null || performance.now() > deadline) {
        await server.stop();
        throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms (exit code ${child.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return server;
  }

  /** SIGTERM to this PID (and only it), SIGKILL if it is still there a second later. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    process.kill(this.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, 'SIGKILL');
  }
}
