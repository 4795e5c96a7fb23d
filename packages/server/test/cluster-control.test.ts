import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { StatsResponse } from '@herald/protocol';
import { resolveConfig, startServer, type HeraldServer } from '../src/index.js';
import { NODE_TTL_MS } from '../src/cluster/nodes.js';
import { bearer, getJson, postEvents, scratchDirs } from './support/hub.js';
import { CLI, spawnHub } from './support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL, startOwnRedis } from './support/redis.js';
import { TestClient } from './support/ws-client.js';

const run = promisify(execFile);
const available = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-cluster-control-');

/** `herald keys …` as an operator runs it, against the shared Redis under `prefix`. */
async function keysCli(prefix: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, 'keys', ...args, '--redis', SHARED_REDIS_URL, '--redis-prefix', prefix], { env: { ...process.env, HERALD_REDIS: '' } });
}

async function publishAs(hub: HeraldServer, credential: string, channel: string): Promise<number> {
  const response = await fetch(`${hub.url}/api/channels/${channel}/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(credential) }, body: JSON.stringify({ type: 'n' }) });
  await response.arrayBuffer();
  return response.status;
}

describe('config', () => {
  it('--redis alone means the Redis engine; with another engine named it is refused with a sentence', () => {
    assert.equal(resolveConfig({ redisUrl: SHARED_REDIS_URL }).store, 'redis');
    assert.throws(() => resolveConfig({ redisUrl: SHARED_REDIS_URL, store: 'sqlite' }), /redisUrl is set .* but the store is sqlite/);
    assert.equal(resolveConfig({}).store, 'sqlite');
  });
});

if (!available) {
  const message = `no Redis answers at ${SHARED_REDIS_URL}`;
  if (process.env.CI === 'true') it('keys and nodes across hubs need a Redis', () => assert.fail(message));
  else it(`keys and nodes across hubs skipped: ${message}`, (t) => t.skip(message));
} else {
  const open: HeraldServer[] = [];
  after(async () => {
    await Promise.all(open.map((hub) => hub.close()));
  });
  const start = async (prefix: string) => {
    const hub = await startServer({ port: 0, logLevel: 'silent', redisUrl: SHARED_REDIS_URL, redisPrefix: prefix, dataDir: dirs() });
    open.push(hub);
    return hub;
  };

  describe('API keys shared by the hubs of one Redis', () => {
    it('a key made with `herald keys create --redis` works on every hub; revoked once, it stops on every hub, also on open connections', async () => {
      const prefix = prefixes();
      const { stdout, stderr } = await keysCli(prefix, 'create', '--name', 'ci', '--allow', 'subscribe:>', '--allow', 'publish:jobs.>');
      const key = stdout.trim();
      assert.match(key, /^hk_/);
      assert.match(stderr, /in Redis 127\.0\.0\.1:6379 \(prefix /);
      await keysCli(prefix, 'create', '--name', 'admin', '--allow', 'admin');
      const listed = JSON.parse((await keysCli(prefix, 'list', '--json')).stdout) as Array<{ name: string }>;
      assert.deepEqual(listed.map((k) => k.name).sort(), ['admin', 'ci']);
      await assert.rejects(keysCli(prefix, 'create', '--name', 'ci', '--allow', 'admin'), /a key named "ci" exists already/);

      // Two hubs, each with an empty data folder of its own: the keys come from Redis.
      const [a, b] = [await start(prefix), await start(prefix)];
      for (const hub of [a, b]) {
        assert.equal(hub.hub.access.required, true, 'the hub requires credentials: it found the keys in Redis');
        assert.equal((await getJson(`${hub.url}/api/channels`)).status, 401);
        assert.equal(await publishAs(hub, key, 'jobs.1'), 201);
        assert.equal(await publishAs(hub, key, 'other'), 403, 'the grant travels with the key');
      }
      const sockets = await Promise.all(
        [a, b].map(async (hub) => {
          const ws = await TestClient.connect(hub.url, '', { headers: bearer(key) });
          await ws.waitFor((m) => m.op === 'hello');
          assert.equal((await ws.request({ op: 'subscribe', channel: 'jobs.1' })).op, 'subscribed');
          return ws;
        }),
      );

      const revoked = Date.now();
      await keysCli(prefix, 'revoke', 'ci');
      for (const ws of sockets) {
        const closed = await ws.closed;
        assert.equal(closed.code, 4401, 'the open connection on each hub is closed as revoked');
        assert.match(closed.reason, /revoked/);
      }
      assert.ok(Date.now() - revoked < 3000, `both hubs closed within ${Date.now() - revoked} ms of the revoke`);
      for (const hub of [a, b]) assert.equal(await publishAs(hub, key, 'jobs.1'), 401);
      const remaining = JSON.parse((await keysCli(prefix, 'list', '--json')).stdout) as Array<{ name: string }>;
      assert.deepEqual(remaining.map((k) => k.name), ['admin']);
    });

    it('while Redis is paused a hub keeps the keys it holds; when Redis comes back empty they are gone, on open connections too', async () => {
      const own = await startOwnRedis();
      try {
        const { stdout } = await run(process.execPath, [CLI, 'keys', 'create', '--name', 'w', '--allow', 'subscribe:>', '--redis', own.url]);
        const key = stdout.trim();
        const hub = await startServer({ port: 0, logLevel: 'silent', redisUrl: own.url, dataDir: dirs() });
        open.push(hub);
        process.kill(own.child.pid!, 'SIGSTOP');
        try {
          await new Promise((r) => setTimeout(r, 1500)); // several watch turns whose reads get no answer
          const ws = await TestClient.connect(hub.url, '', { headers: bearer(key) });
          assert.equal((await ws.waitFor((m) => m.op === 'hello')).op, 'hello', 'the key still opens a connection');
          assert.equal(hub.keys.size, 1);
          ws.close();
        } finally {
          process.kill(own.child.pid!, 'SIGCONT');
        }
        const ws = await TestClient.connect(hub.url, '', { headers: bearer(key) });
        await ws.waitFor((m) => m.op === 'hello');
        await own.restart(); // an empty Redis: no history, no keys
        const closed = await ws.closed;
        assert.equal(closed.code, 4401, 'the key is gone with the data it was part of');
        assert.equal(hub.keys.size, 0);
      } finally {
        await own.stop();
      }
    });

    it('`herald keys` names the Redis it could not reach', async () => {
      await assert.rejects(run(process.execPath, [CLI, 'keys', 'list', '--redis', 'redis://127.0.0.1:1']), (error: { stderr: string; code: number }) => {
        assert.equal(error.code, 2);
        assert.match(error.stderr, /cannot reach Redis at 127\.0\.0\.1:1/);
        return true;
      });
    });
  });

  describe('dashboard sign-ins and stream tickets shared by the hubs of one Redis', () => {
    const signIn = async (hub: HeraldServer, credential: string): Promise<string> => {
      const response = await fetch(`${hub.url}/api/auth/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential }) });
      assert.equal(response.status, 200);
      const cookie = /herald_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
      assert.ok(cookie, 'a session cookie');
      return `herald_session=${cookie}`;
    };
    const me = async (hub: HeraldServer, cookie: string) => (await getJson(`${hub.url}/api/auth/me`, { cookie })).json as { principal?: { name: string } };

    it('a session signed in on one hub works on the others; signed out on one, it ends on all; a ticket from one opens a stream on another', async () => {
      const prefix = prefixes();
      const key = (await keysCli(prefix, 'create', '--name', 'ops', '--allow', 'admin')).stdout.trim();
      const [a, b] = [await start(prefix), await start(prefix)];
      const cookie = await signIn(a, key);
      assert.equal((await me(b, cookie)).principal?.name, 'ops', 'the other hub knows the session');
      assert.equal((await getJson(`${b.url}/api/stats`, { cookie })).status, 200, 'and acts on it');

      const ticket = (await (await fetch(`${a.url}/api/auth/ticket`, { method: 'POST', headers: { cookie } })).json()) as { ticket: string };
      const stream = await fetch(`${b.url}/api/channels/t/stream?ticket=${encodeURIComponent(ticket.ticket)}`);
      assert.equal(stream.status, 200, 'a ticket bought on one hub opens a stream on the other');
      await stream.body?.cancel();

      const signedOut = await fetch(`${b.url}/api/auth/session`, { method: 'DELETE', headers: { cookie } });
      assert.equal(signedOut.status, 200);
      assert.equal((await me(b, cookie)).principal, undefined, 'signed out where it was done');
      const started = Date.now();
      while ((await me(a, cookie)).principal !== undefined) {
        assert.ok(Date.now() - started < 3000, 'the hub that issued the session must drop it within about a second');
        await new Promise((r) => setTimeout(r, 50));
      }
    });

    it('a key revoked once ends the sessions signed in with it on every hub', async () => {
      const prefix = prefixes();
      const key = (await keysCli(prefix, 'create', '--name', 'temp', '--allow', 'subscribe:>')).stdout.trim();
      const [a, b] = [await start(prefix), await start(prefix)];
      const cookie = await signIn(a, key);
      assert.equal((await me(b, cookie)).principal?.name, 'temp');
      await keysCli(prefix, 'revoke', 'temp');
      const started = Date.now();
      while ((await me(a, cookie)).principal !== undefined || (await me(b, cookie)).principal !== undefined) {
        assert.ok(Date.now() - started < 3000, 'both hubs must end the session within a few hundred ms');
        await new Promise((r) => setTimeout(r, 50));
      }
    });
  });

  describe('the node registry', () => {
    it('/api/stats on any hub lists every hub with its figures and the cluster totals', async () => {
      const prefix = prefixes();
      const [a, b, c] = [await start(prefix), await start(prefix), await start(prefix)];
      const watcher = await TestClient.connect(b.url, '');
      await watcher.waitFor((m) => m.op === 'hello');
      await watcher.request({ op: 'subscribe', channel: 'stats' });
      for (let n = 0; n < 3; n++) assert.equal((await postEvents(a.url, 'stats', { type: 'n' })).status, 201);
      await watcher.waitFor((m) => m.op === 'event' && m.offset === 3);
      let stats: StatsResponse;
      // The others' figures are as old as their last report (every 2 s).
      const deadline = Date.now() + 8000;
      for (;;) {
        stats = (await getJson(`${c.url}/api/stats`)).json as StatsResponse;
        const ofB = stats.cluster.nodes.find((n) => n.url === b.url);
        if (stats.cluster.nodes.length === 3 && ofB && ofB.connections.total === 1 && ofB.events.out === 3) break;
        if (Date.now() > deadline) assert.fail(`the cluster as seen from c: ${JSON.stringify(stats.cluster)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(stats.cluster.nodes[0]!.url, c.url, 'the hub that answered comes first');
      assert.equal(stats.node, stats.cluster.nodes[0]!.id);
      assert.deepEqual(stats.cluster.nodes.map((n) => n.url).sort(), [a.url, b.url, c.url].sort());
      assert.equal(stats.cluster.nodes.find((n) => n.url === a.url)!.events.in, 3, 'a stored the three events');
      assert.equal(stats.cluster.totals.nodes, 3);
      assert.equal(stats.cluster.totals.connections, 1);
      assert.equal(stats.connections.total, 0, 'the top-level figures are the answering hub');
      watcher.close();
    });

    it('a hub shut down leaves the registry at once; a hub killed drops out within the TTL', async () => {
      const prefix = prefixes();
      const stays = await start(prefix);
      const leaves = await start(prefix);
      const killed = await spawnHub(dirs(), ['--redis', SHARED_REDIS_URL, '--redis-prefix', prefix]);
      const count = async () => ((await getJson(`${stays.url}/api/stats`)).json as StatsResponse).cluster.nodes.length;
      try {
        const deadline = Date.now() + 5000;
        while ((await count()) !== 3) {
          if (Date.now() > deadline) assert.fail('three hubs in the registry');
          await new Promise((r) => setTimeout(r, 50));
        }
        await leaves.close();
        assert.equal(await count(), 2, 'a graceful shutdown removes the hub before close() returns');
        await killed.kill();
        const killedAt = Date.now();
        while ((await count()) !== 1) {
          if (Date.now() - killedAt > NODE_TTL_MS + 3000) assert.fail('the killed hub to drop out');
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(Date.now() - killedAt <= NODE_TTL_MS + 3000);
      } finally {
        await killed.kill();
      }
    });
  });
}
