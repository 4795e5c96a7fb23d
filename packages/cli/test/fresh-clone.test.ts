import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { freePort } from '../../server/test/support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from '../../server/test/support/redis.js';
import { matchesInOrder, outputPattern, readmeItems, type ReadmeItem, type ShellCommand, type SocketExchange } from './support/readme.js';
import { cleanEnv, killAll, runShell, startShell, type ShellProcess } from './support/shell.js';
import { checkPackedPackages } from './support/packed-app.js';

/**
 * A fresh clone of this repository's committed HEAD, installed the README's way, then every command the
 * README shows run against the hub it starts — and the packages packed from that clone installed and used by
 * an app outside the repository (support/packed-app.ts). Uncommitted changes are not in the clone: that is
 * the point. Where a command cannot run as written, it is adapted here, narrowly, and the reason given:
 *
 * - ports 7070 and 7071 become free ports (HERALD_PORT and HERALD_URL for the commands that use the default);
 * - `--redis` commands get a `--redis-prefix` of their own (the Redis is shared; its keys are deleted after);
 * - curl gets `-sS --fail-with-body`, so an HTTP error fails the command instead of printing a body;
 * - `npm test` is not run (it is the command that runs this test), and the command `herald run` wraps is a
 *   short one of the test's own;
 * - a key a command prints (hk_…) is exported as HERALD_API_KEY, as the README says to;
 * - long-running commands (hubs, `curl -N`, `herald tail`, a trailing `&`) run in the background and are
 *   stopped with Ctrl-C (SIGINT to their process group); a section that starts hubs first stops the ones
 *   before it, as the secured mode's "stop the hub (Ctrl-C)" says.
 */

const REPO = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: new URL('.', import.meta.url), encoding: 'utf8' }).trim();
const INSTALL_TIMEOUT_MS = 8 * 60_000;
const COMMAND_TIMEOUT_MS = 60_000;
const WAIT_MS = 30_000;

describe('a fresh clone, as the README says', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'herald-fresh-clone-'));
  const clone = join(scratch, 'herald');
  const appScratch = mkdtempSync(join(tmpdir(), 'herald-packed-app-'));
  const redisPrefix = scratchPrefixes();
  // npm reads its settings from the environment too: the install takes what the cache has (the lockfile
  // decides the versions either way), and says nothing of audits and funding.
  const npmEnv = { npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
  let items: ReadmeItem[] = [];
  let firstCommand: ShellCommand;

  after(async () => {
    await killAll();
    rmSync(scratch, { recursive: true, force: true });
    rmSync(appScratch, { recursive: true, force: true });
  });

  before(async () => {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    execFileSync('git', ['clone', '--quiet', '--no-checkout', REPO, clone]);
    execFileSync('git', ['checkout', '--quiet', '--detach', head], { cwd: clone });
    items = readmeItems(readFileSync(join(clone, 'README.md'), 'utf8'));
    const shell = items.filter((item): item is ShellCommand => item.kind === 'shell');
    assert.ok(shell.length >= 8, `the README shows shell commands (found ${shell.length})`);
    firstCommand = shell[0]!;
    // The Quick start's first command installs and starts: `npm install && npm start`. Both tests need the
    // installed clone, so its install half runs here and its start half with the other commands.
    const [install] = firstCommand.text.split(' && ');
    assert.match(install!, /^npm (install|ci)\b/, `the README's first command installs: ${firstCommand.text}`);
    const result = await runShell(install!, { cwd: clone, env: cleanEnv(npmEnv), timeoutMs: INSTALL_TIMEOUT_MS });
    assert.equal(result.code, 0, `\`${install}\` in a fresh clone:\n${result.output.slice(-4000)}`);
    // The install changes nothing that is committed (a lockfile out of step with package.json would).
    assert.equal(execFileSync('git', ['status', '--porcelain'], { cwd: clone, encoding: 'utf8' }), '', 'the install leaves the clone as committed');
  }, { timeout: INSTALL_TIMEOUT_MS + 30_000 });

  it('runs every command the README shows', { timeout: 5 * 60_000 }, async (t) => {
    const ports = { 7070: await freePort(), 7071: await freePort() };
    const env = cleanEnv({ ...npmEnv, HERALD_PORT: String(ports[7070]), HERALD_URL: `http://127.0.0.1:${ports[7070]}` });
    const redis = (await redisAnswers(SHARED_REDIS_URL)) ? redisPrefix() : undefined;
    if (!redis && process.env.CI) assert.fail(`no Redis at ${SHARED_REDIS_URL}: the README's Redis commands cannot run (CI)`);

    const hubs = new Map<number, ShellProcess>();
    let streams: ShellProcess[] = [];
    let lastPublish: string | undefined;
    let section = '';
    const ran: string[] = [];

    const adapt = (text: string) => {
      let adapted = text.replace(/(127\.0\.0\.1:|--port )(7070|7071)\b/g, (_, before: string, port: '7070' | '7071') => `${before}${ports[port]}`);
      if (redis) adapted = adapted.replace(/--redis redis:\/\/127\.0\.0\.1:6379\b/g, `--redis ${SHARED_REDIS_URL} --redis-prefix ${redis}`);
      adapted = adapted.replace(/^curl /, 'curl -sS --fail-with-body ');
      adapted = adapted.replace(/^(npx herald run .*?)-- .*$/, `$1-- node -e "console.log('the wrapped command ran')"`);
      return adapted;
    };
    const oneShot = async (text: string, expectCode = 0) => {
      const result = await runShell(text, { cwd: clone, env, timeoutMs: COMMAND_TIMEOUT_MS });
      assert.equal(result.code, expectCode, `\`${text}\` exits ${expectCode}. Output:\n${result.output}`);
      return result.output;
    };
    const checkShown = (command: ShellCommand, output: string) => {
      const shown = matchesInOrder(output.split('\n'), command.output.map(outputPattern));
      if (!shown.ok) assert.fail(`\`${command.text}\` prints what the README shows: no line matches ${shown.missing}. Output:\n${output}`);
    };
    const stopStreams = async () => {
      await Promise.all(streams.map((s) => s.interrupt()));
      streams = [];
    };

    for (const item of items) {
      if (item.section !== section) {
        await stopStreams();
        section = item.section;
        const startsHubs = items.some((i) => i.section === section && i.kind === 'shell' && isHub(i.text) && (redis !== undefined || !/--redis\b/.test(i.text)));
        if (startsHubs) {
          for (const [port, hub] of hubs) assert.ok(await hub.interrupt(), `the hub on ${port} stops on Ctrl-C`);
          hubs.clear();
        }
      }
      if (item.kind === 'websocket') {
        await socketExchange(item, ports[7070], async () => oneShot(adapt(lastPublish!)));
        ran.push('(WebSocket exchange)');
        continue;
      }
      if (item.kind === 'inline') {
        assert.match(await oneShot(item.text), /Usage/, `\`${item.text}\` prints its usage`);
        ran.push(item.text);
        continue;
      }
      let text = item.text;
      if (item === firstCommand) text = text.split(' && ').slice(1).join(' && '); // its install ran in before()
      if (text === 'npm test') {
        t.diagnostic('not run: `npm test` (the command that runs this test)');
        continue;
      }
      if (/--redis\b/.test(text) && !redis) {
        t.diagnostic(`not run, no Redis at ${SHARED_REDIS_URL}: ${text}`);
        continue;
      }
      const command = adapt(text);
      ran.push(command);
      const background = /&\s*$/.test(command) || isHub(command) || /^curl( -\S+)* -N\b/.test(text) || /^npx herald tail\b/.test(text);
      if (!background) {
        const output = await oneShot(command);
        checkShown(item, output);
        const key = /\bhk_[A-Za-z0-9_-]+/.exec(output);
        if (/keys create/.test(command)) assert.ok(key, `\`${command}\` prints the key. Output:\n${output}`);
        if (key) env.HERALD_API_KEY = key[0];
        if (/^curl .*\/events\b/.test(text)) lastPublish = text;
        if (/Authorization: Bearer \$HERALD_API_KEY/.test(text)) {
          // "Without the header the answer is 401 unauthorized."
          const without = await oneShot(command.replace(/-H "Authorization: Bearer \$HERALD_API_KEY" /, ''), 22);
          assert.match(without, /unauthorized/, 'without the header the hub answers 401 unauthorized');
        }
        if (/^npx herald run\b/.test(command)) {
          for (const tail of streams) await tail.waitFor(/the wrapped command ran/, 'the run\'s output in `herald tail`', WAIT_MS);
          // "exit code kept": the same command wrapping one that fails.
          await oneShot(command.replace(/-- node -e .*$/, '-- node -e "process.exit(3)"'), 3);
        }
        continue;
      }
      const proc = startShell(command.replace(/&\s*$/, ''), { cwd: clone, env });
      if (isHub(command)) {
        const port = Number(/--port (\d+)/.exec(command)?.[1] ?? env.HERALD_PORT);
        assert.ok(!hubs.has(port), `no hub runs on ${port} before \`${command}\``);
        hubs.set(port, proc);
        await proc.waitFor(new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\b`), 'the hub to listen', WAIT_MS);
        // `# restarted, the hub says "access: credentials required (1 API key)"`
        for (const [, says] of item.comment.matchAll(/says "([^"]+)"/g)) {
          await proc.waitFor(new RegExp(escape(says!).replace(/ +/g, '\\s+')), `the hub to say "${says}"`, WAIT_MS);
        }
        if (item === firstCommand) {
          // "Open http://127.0.0.1:7070/ for the live dashboard"
          const page = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
          assert.match(page, /<div id="root">/, 'the hub serves the dashboard at /');
        }
        continue;
      }
      streams.push(proc);
      if (/^npx herald tail\b/.test(text)) {
        await untilTailShows(proc, ports[7070], env.HERALD_API_KEY);
        continue;
      }
      // `curl -N …/stream`: subscribed first, then a live event (the README's publish command again).
      const patterns = item.output.map(outputPattern);
      const shows = (count: number) => matchesInOrder(proc.output().split('\n'), patterns.slice(0, count)).ok;
      await until(() => shows(1), () => `\`${command}\` to print "${item.output[0]}". Output:\n${proc.output()}`);
      if (lastPublish) await oneShot(adapt(lastPublish));
      await until(() => shows(patterns.length), () => `\`${command}\` to print what the README shows: ${JSON.stringify(matchesInOrder(proc.output().split('\n'), patterns))}. Output:\n${proc.output()}`);
    }
    await stopStreams();
    for (const [port, hub] of hubs) assert.ok(await hub.interrupt(), `the hub on ${port} stops on Ctrl-C`);
    t.diagnostic(`ran ${ran.length} README commands:\n${ran.join('\n')}`);
    // What the README must keep showing, or this test no longer covers it.
    for (const wanted of [/^npm start$/, /^curl .* --json .*\/events$/, /^curl .* -N .*\/stream$/, /keys create/, /^npx herald publish/, /^npx herald tail/, /^npx herald run/, /^npx herald serve --help$/, /WebSocket/]) {
      assert.ok(ran.some((r) => wanted.test(r)), `the README commands include ${wanted}`);
    }
    if (redis) assert.ok(ran.some((r) => /serve --redis/.test(r)), 'the Redis hubs ran');
    // Not quoted in the README, but the first thing anyone types.
    assert.match(await oneShot('npx herald --help'), /Usage:\s+herald serve/);
  });

  it('packs packages that an app outside the repository installs and uses', { timeout: 6 * 60_000 }, async (t) => {
    await checkPackedPackages({ clone, scratch: appScratch, env: cleanEnv(npmEnv), log: (m) => t.diagnostic(m) });
  });
});

function isHub(command: string): boolean {
  return /(^|&& )npm start\b/.test(command) || (/^npx herald serve\b/.test(command) && !/--help/.test(command));
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function until(test: () => boolean, what: () => string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `herald tail 'runs.>'` follows live events only: it is ready once an event published after it started
 * shows up. Probes go to a channel of their own under runs., once a second until one arrives.
 */
async function untilTailShows(tail: ShellProcess, port: number, apiKey: string | undefined): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  const deadline = Date.now() + WAIT_MS;
  while (!tail.output().includes('tail-probe')) {
    if (Date.now() > deadline) assert.fail(`\`herald tail\` showed no live event in ${WAIT_MS} ms. Output:\n${tail.output()}`);
    const res = await fetch(`http://127.0.0.1:${port}/api/channels/runs.readme-probe/events`, { method: 'POST', headers, body: JSON.stringify({ type: 'log', data: { message: 'tail-probe' } }) });
    assert.equal(res.status, 201, `probe published: ${await res.text()}`);
    await tail.waitFor(/tail-probe/, 'a probe', 1000).catch(() => {});
  }
}

/** The README's WebSocket exchange: its `>` frames sent, its `<` frames expected in order; `publish` makes the live event it shows. */
async function socketExchange(exchange: SocketExchange, port: number, publish: () => Promise<unknown>): Promise<void> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const received: string[] = [];
  socket.on('message', (data) => received.push(String(data)));
  await new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
  try {
    const expected = exchange.frames.filter((f) => f.direction === 'receive');
    for (const frame of exchange.frames) if (frame.direction === 'send') socket.send(frame.text);
    const replies = expected.filter((f) => !f.text.includes('"op":"event"')).map((f) => outputPattern(f.text));
    await until(() => matchesInOrder(received, replies).ok, () => `the replies the README shows over WebSocket; received:\n${received.join('\n')}`);
    await publish();
    const all = expected.map((f) => outputPattern(f.text));
    await until(() => matchesInOrder(received, all).ok, () => `the frames the README shows over WebSocket; received:\n${received.join('\n')}`);
  } finally {
    socket.close();
  }
}
