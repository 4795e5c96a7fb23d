import { spawn } from 'node:child_process';

/**
 * Shell commands as a reader types them, for tests that run a README: each in its own process group
 * (`sh -c` and whatever it starts — `npm start` is npm, then sh, then node), so that Ctrl-C can be
 * played the way a terminal sends it, to the whole group, by the group's id (the first process's PID).
 */

/**
 * The environment for commands in a scratch clone: this test run's own npm and Herald settings left out
 * (`npm test` exports npm_* variables and puts this checkout's node_modules/.bin first on PATH, which would
 * let the clone use tools it never installed).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^npm_/i.test(name) || name.startsWith('HERALD_') || name === 'INIT_CWD' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => !dir.includes('node_modules/.bin') && !dir.includes('node-gyp-bin'))
    .join(':');
  return { ...env, NO_COLOR: '1', ...extra };
}

export interface ShellProcess {
  readonly command: string;
  readonly pid: number;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<number | null>;
  /** Resolves once the output matches; fails after `timeoutMs`, or when the process ends first. */
  waitFor(pattern: RegExp, what: string, timeoutMs?: number): Promise<void>;
  /** Ctrl-C: SIGINT to the group; SIGKILL to whatever is left after `graceMs`. Resolves when all are gone; true if SIGINT sufficed. */
  interrupt(graceMs?: number): Promise<boolean>;
}

const running = new Set<ShellProcess>();

export function startShell(command: string, options: { cwd: string; env: Record<string, string> }): ShellProcess {
  const child = spawn('sh', ['-c', command], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  let output = '';
  const listeners = new Set<() => void>();
  const append = (d: Buffer) => {
    output += d.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      exitCode = code;
      for (const listener of listeners) listener();
      resolve(exitCode);
    }),
  );
  const groupAlive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const proc: ShellProcess = {
    command,
    pid,
    output: () => output,
    exited,
    waitFor(pattern, what, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) done(resolve);
          else if (exitCode !== undefined) done(() => reject(new Error(`\`${command}\` exited (${exitCode}) before ${what}. Output:\n${output}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from \`${command}\`. Output:\n${output}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async interrupt(graceMs = 15_000) {
      signalGroup('SIGINT');
      const gone = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), graceMs).unref())]);
      // A member that outlived the first process (it ignored or did not get the signal) is killed too.
      for (let i = 0; i < 50 && groupAlive(); i++) await new Promise((r) => setTimeout(r, 20));
      const clean = gone && !groupAlive();
      signalGroup('SIGKILL');
      await exited;
      running.delete(proc);
      return clean;
    },
  };
  running.add(proc);
  void exited.then(() => {
    if (!groupAlive()) running.delete(proc);
  });
  return proc;
}

/** Runs a command to its end; SIGKILLs its group after `timeoutMs`. */
export async function runShell(command: string, options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; output: string }> {
  const proc = startShell(command, options);
  const timer = setTimeout(() => void proc.interrupt(0), options.timeoutMs ?? 60_000);
  const code = await proc.exited;
  clearTimeout(timer);
  await proc.interrupt(0); // nothing it left behind in its group outlives it
  return { code, output: proc.output() };
}

/** SIGKILLs every process group this module started that is still there (for `after` hooks). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.interrupt(0)));
}
