import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { runShell, startShell } from './shell.js';

/** The packages an app installs; the dashboard is private and travels inside @herald/cli. */
export const PUBLISHED = ['protocol', 'client', 'react', 'server', 'cli'] as const;

/** The repository's own TypeScript compiler (an app brings its own; which one does not matter here). */
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** An app's own file: every entry point of the packages, with their types. */
const APP_TS = `import { createClient, HeraldClient } from '@herald/client';
import { createPublisher, type Publisher } from '@herald/client/publisher';
import { CloseCodes, isPattern } from '@herald/protocol';
import { ConnectionStatus, HeraldProvider, useChannel } from '@herald/react';
import { startServer, type HeraldServer } from '@herald/server';
import { WebSocket } from 'ws';

// ws's WebSocket is what the client takes on Node, with no cast.
export const client: HeraldClient = createClient({ url: 'http://127.0.0.1:7070', WebSocket });
export const publisher: Publisher = createPublisher({ url: 'http://127.0.0.1:7070' });
export const reconnects: boolean = CloseCodes.unauthorized.reconnect;
export const pattern: boolean = isPattern('runs.>');
export const parts = [ConnectionStatus, HeraldProvider, useChannel] as const;
export const hub: Promise<HeraldServer> = startServer({ port: 0 });
// Types that resolved to \`any\` would let these through, and the check would prove nothing.
// @ts-expect-error the url is a string
createClient({ url: 7070 });
// @ts-expect-error publish takes an event object
void publisher.publish('runs.x', 'not an event');
`;

/** The app at run time: a hub from @herald/server, the client over ws, the publisher; the events arrive. */
const SMOKE_MJS = `import { startServer } from '@herald/server';
import { createClient } from '@herald/client';
import { createPublisher } from '@herald/client/publisher';
import { isPattern } from '@herald/protocol';
import { WebSocket } from 'ws';

const server = await startServer({ port: 0, host: '127.0.0.1', dataDir: process.argv[2], logLevel: 'warn' });
const client = createClient({ url: server.url, WebSocket });
const publisher = createPublisher({ url: server.url });
try {
  const types = [];
  const waiters = [];
  client.subscribe('app.smoke', (delivered) => {
    types.push(delivered.event.type);
    waiters.shift()?.();
  }, { since: { offset: 0 } });
  const next = (what) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(what + ' did not arrive; got ' + JSON.stringify(types))), 15000);
    waiters.push(() => (clearTimeout(timer), resolve()));
  });
  const first = next("the client's event");
  await client.publish('app.smoke', { type: 'from-client', data: { n: 1 } });
  await first;
  const second = next("the publisher's event");
  publisher.publish('app.smoke', { type: 'from-publisher', data: { n: 2 } });
  await publisher.flush();
  await second;
  if (types.join(',') !== 'from-client,from-publisher') throw new Error('unexpected events: ' + types.join(','));
  if (!isPattern('app.>')) throw new Error('@herald/protocol: app.> is a pattern');
  console.log('events arrived: ' + types.join(','));
} finally {
  await publisher.close();
  client.close();
  await server.close();
}
`;

export interface PackedAppOptions {
  /** An installed, built checkout to pack from. */
  clone: string;
  /** An empty folder outside the repository for the tarballs and the app. */
  scratch: string;
  env: Record<string, string>;
  log(message: string): void;
}

/**
 * `npm pack` of every published package, then an app outside the repository that installs the tarballs
 * in one `npm install` (their @herald/* dependencies are found among them), type-checks against them,
 * runs a hub, a client and a publisher from them, and runs their `herald` — which serves the dashboard.
 */
export async function checkPackedPackages({ clone, scratch, env, log }: PackedAppOptions): Promise<void> {
  const tarballs = join(scratch, 'tarballs');
  mkdirSync(tarballs);
  const workspaces = PUBLISHED.map((name) => `-w @herald/${name}`).join(' ');
  const packed = await runShell(`npm pack ${workspaces} --pack-destination ${tarballs}`, { cwd: clone, env, timeoutMs: 3 * 60_000 });
  assert.equal(packed.code, 0, `npm pack:\n${packed.output}`);
  const version = (JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string }).version;
  const files = readdirSync(tarballs).sort();
  assert.deepEqual(files, PUBLISHED.map((name) => `herald-${name}-${version}.tgz`).sort(), 'one tarball per package');

  // The app's other dependencies at the versions this checkout uses, so that npm's cache has them.
  const versionIn = (name: string) => (JSON.parse(readFileSync(join(clone, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  // No @types/ws: @herald/server's declarations need it, so it must bring it (app.ts imports ws too).
  const others = ['ws', 'react', '@types/react', '@types/node'].map((name) => `${name}@${versionIn(name)}`);
  const app = join(scratch, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'herald-packed-app', private: true, type: 'module' }, null, 2));
  const started = Date.now();
  const installed = await runShell(`npm install --no-audit --no-fund --prefer-offline ${files.map((f) => join(tarballs, f)).join(' ')} ${others.join(' ')}`, { cwd: app, env, timeoutMs: 8 * 60_000 });
  assert.equal(installed.code, 0, `npm install of the tarballs:\n${installed.output}`);
  log(`npm install of the tarballs took ${((Date.now() - started) / 1000).toFixed(0)} s`);

  for (const name of PUBLISHED) checkInstalledPackage(join(app, 'node_modules', '@herald', name), version);
  assert.ok(!existsSync(join(app, 'node_modules', '@herald', 'dashboard')), 'the private dashboard package is not needed');

  // Types: the app's file and the README's TypeScript, against the installed packages, as an app on Node
  // (NodeNext: exports and types as Node resolves them) and one with a bundler would check them.
  writeFileSync(join(app, 'app.ts'), APP_TS);
  const readmeFiles = readmeTypeScript(readFileSync(join(clone, 'README.md'), 'utf8'));
  for (const [file, text] of readmeFiles) writeFileSync(join(app, file), text);
  assert.ok(readmeFiles.size >= 3, 'the README shows TypeScript for the client, React and the publisher');
  const compilerOptions = { target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, jsx: 'react-jsx', lib: ['ES2023', 'DOM'], types: ['node'] };
  for (const [resolution, module] of [['NodeNext', 'NodeNext'], ['Bundler', 'ESNext']] as const) {
    const config = `tsconfig.${resolution.toLowerCase()}.json`;
    writeFileSync(join(app, config), JSON.stringify({ compilerOptions: { ...compilerOptions, module, moduleResolution: resolution }, files: ['app.ts', ...readmeFiles.keys()] }));
    const checked = await runShell(`"${process.execPath}" "${TSC}" -p ${config}`, { cwd: app, env, timeoutMs: 2 * 60_000 });
    assert.equal(checked.code, 0, `tsc (${resolution}) on an app importing the installed packages:\n${checked.output}`);
  }

  writeFileSync(join(app, 'smoke.mjs'), SMOKE_MJS);
  mkdirSync(join(app, 'data'));
  const smoke = await runShell(`node smoke.mjs ./data`, { cwd: app, env, timeoutMs: 60_000 });
  assert.equal(smoke.code, 0, `a hub, a client and a publisher from the installed packages:\n${smoke.output}`);
  assert.match(smoke.output, /events arrived: from-client,from-publisher/);

  const help = await runShell('node_modules/.bin/herald --help', { cwd: app, env });
  assert.equal(help.code, 0, help.output);
  assert.match(help.output, /Usage:\s+herald serve/);

  // `herald serve` from the tarball serves the dashboard that travels inside it.
  const hub = startShell('node_modules/.bin/herald serve --port 0 --data ./data', { cwd: app, env });
  let stopped = false;
  try {
    await hub.waitFor(/listening on (http:\/\/\S+)/, 'the installed hub to listen');
    await hub.waitFor(/dashboard: /, 'the installed hub to name its dashboard', 5000);
    const url = /listening on (http:\/\/\S+)/.exec(hub.output())![1]!;
    const page = await fetch(`${url}/`).then((r) => r.text());
    assert.match(page, /<div id="root">/, 'the dashboard page');
    const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(page)?.[1];
    assert.ok(script, `the dashboard page names its script:\n${page}`);
    const asset = await fetch(`${url}/${script}`);
    assert.equal(asset.status, 200, `the dashboard's ${script}`);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
  } finally {
    stopped = await hub.interrupt();
  }
  assert.ok(stopped, 'the installed hub stops on Ctrl-C');
}

/** What an installed package must hold: every file its manifest names, a README, and ranges that resolve. */
function checkInstalledPackage(dir: string, version: string): void {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, any>;
  assert.equal(pkg.version, version);
  assert.ok(existsSync(join(dir, 'README.md')), `${pkg.name} has a README.md`);
  const named: string[] = [pkg.main, pkg.types, ...Object.values<string>(pkg.bin ?? {})].filter(Boolean);
  const walk = (target: unknown): void => {
    if (typeof target === 'string') named.push(target);
    else if (target && typeof target === 'object') Object.values(target).forEach(walk);
  };
  walk(pkg.exports);
  for (const file of named) assert.ok(existsSync(join(dir, file)), `${pkg.name}: ${file}, named in its package.json, is in the tarball`);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [dep, range] of Object.entries<string>(pkg[field] ?? {})) {
      assert.doesNotMatch(range, /^(file|link|workspace):/, `${pkg.name}: ${dep}@${range} is a path of the monorepo`);
      if (dep.startsWith('@herald/')) assert.equal(range, version, `${pkg.name} depends on ${dep} at the version released with it`);
    }
  }
  assert.ok(!('@herald/dashboard' in (pkg.dependencies ?? {})), `${pkg.name} does not depend on the private dashboard`);
}

/** The README's ```ts and ```tsx blocks as files; the one helper they call but do not define is declared. */
function readmeTypeScript(markdown: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const [, lang, body] of markdown.matchAll(/^```(ts|tsx)\n([\s\S]*?)^```$/gm)) {
    const declared = body!.includes('reloadFromHistory(') ? 'declare function reloadFromHistory(): void;\n' : '';
    files.set(`readme-${files.size + 1}.${lang}`, `${declared}${body}export {};\n`);
  }
  return files;
}
