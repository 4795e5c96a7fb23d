#!/usr/bin/env node
// Runs every packages/*/test/**/*.test.ts with Node's test runner (TypeScript through tsx).
// Node 20's --test takes no globs, so the files are listed here. A test that hangs fails after 60 s
// rather than holding CI until its own limit.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const only = process.argv.slice(2);
const files = readdirSync('packages')
  .map((pkg) => join('packages', pkg, 'test'))
  .filter((dir) => statSync(dir, { throwIfNoEntry: false })?.isDirectory())
  .flatMap(findTests)
  .filter((file) => only.length === 0 || only.some((o) => file.includes(o)))
  .sort();
// `node scripts/run-tests.mjs sdk/python` runs only the Python SDK's suite (see the end).
const wantsPython = only.length === 0 || only.some((o) => 'sdk/python'.includes(o) || o.includes('sdk/python'));
if (files.length === 0 && !wantsPython) {
  console.error('no test files found');
  process.exit(1);
}
const run = (list, env = {}, timeoutMs = 60_000) => spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-timeout=${timeoutMs}`, ...list], { stdio: 'inherit', env: { ...process.env, ...env } }).status ?? 1;
// Files whose tests are minutes long by nature (the fresh clone installs the repository twice; the
// dashboard's e2e file drives Chromium through 20 hub restarts under load): the 60-s limit would cut them, so they run on their own with a limit of 15 minutes (each test inside
// still has its own, shorter one).
const LONG = ['packages/cli/test/fresh-clone.test.ts', 'packages/dashboard/test/dashboard.test.ts'];
// Tests that assert a time (Chromium render and main-thread times, a bystander's latency ratio): each runs alone (one file at a time, after
// the rest), so that the hubs and browsers of other test files running in parallel do not eat the time
// they measure (a loaded clean-clone run saw 2025 ms against a 2-s limit while other files ran).
const ALONE = ['packages/dashboard/test/big-run.test.ts', 'packages/dashboard/test/run-log.test.ts', 'packages/server/test/quota-fairness.test.ts'];
const short = files.filter((file) => !LONG.includes(file) && !ALONE.includes(file));
const long = files.filter((file) => LONG.includes(file));
let status = short.length > 0 ? run(short) : 0;
for (const file of files.filter((f) => ALONE.includes(f))) {
  console.log(`\n# alone: ${file}`);
  const aloneStatus = run([file]);
  status ||= aloneStatus;
}
if (long.length > 0) {
  console.log(`\n# long-running: ${long.join(' ')}`);
  const longStatus = run(long, {}, 15 * 60_000);
  status ||= longStatus;
}

// The end-to-end suites again on the other history engines (startHub reads HERALD_TEST_ENGINE): every
// engine must behave the same through the WebSocket, SSE and HTTP doors, for runs and for the client.
const END_TO_END = ['packages/server/test/ws.test.ts', 'packages/server/test/presence.test.ts', 'packages/server/test/sse.test.ts', 'packages/server/test/poll.test.ts', 'packages/server/test/http.test.ts', 'packages/server/test/direct.test.ts', 'packages/server/test/rpc.test.ts', 'packages/server/test/runs.test.ts', 'packages/client/test/client.test.ts', 'packages/client/test/multiplex.test.ts', 'packages/client/test/transports.test.ts'];
const again = files.filter((file) => END_TO_END.includes(file));
if (again.length > 0 && !process.env.HERALD_TEST_ENGINE) {
  for (const engine of ['memory', 'redis']) {
    console.log(`\n# end-to-end suites on the ${engine} engine: ${again.join(' ')}`);
    // Run every stage even after a failure (`status ||= run(…)` would skip it): a red run shows all that is red.
    const engineStatus = run(again, { HERALD_TEST_ENGINE: engine });
    status ||= engineStatus;
  }
}
// The Python SDK's suite (sdk/python/tests: unittest against the real hub, standard library only).
if (wantsPython && !process.env.HERALD_TEST_ENGINE) {
  const python = process.env.PYTHON ?? 'python3';
  const found = spawnSync(python, ['--version'], { stdio: 'ignore' });
  if (found.status !== 0) {
    console.log(`\n# Python SDK tests skipped: ${python} not found${process.env.CI ? ' (CI: failing)' : ''}`);
    if (process.env.CI) status ||= 1;
  } else {
    console.log('\n# Python SDK: python3 -m unittest discover -s sdk/python/tests');
    const pythonStatus = spawnSync(python, ['-m', 'unittest', 'discover', '-s', 'sdk/python/tests', '-t', 'sdk/python/tests'], { stdio: 'inherit', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }).status ?? 1;
    status ||= pythonStatus;
  }
}
process.exit(status);
