import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { WebSocket } from 'ws';
import { createClient, type TransportName, type WebSocketConstructor } from '../../client/src/index.js';
import { mintToken } from '../../server/src/index.js';
import { getJson, postEvents, request, scratchDirs } from '../../server/test/support/hub.js';
import { freePort, spawnHub, until, type HubProcess } from '../../server/test/support/process.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from '../../server/test/support/redis.js';
import { TestClient } from '../../server/test/support/ws-client.js';

/** The committed configuration: the test runs it, so that the documentation cannot rot. */
const COMMITTED_CONF = new URL('../../../docs/nginx/herald.conf', import.meta.url).pathname;

/** Debian's nginx (in /usr/sbin, which is not on every PATH), or $NGINX. */
function findNginx(): string | undefined {
  for (const candidate of [process.env.NGINX, 'nginx', '/usr/sbin/nginx']) {
    if (candidate && spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** The `herald serve` flags the committed file tells every hub to run with, one list per hub line. */
function documentedHubs(conf: string): Array<{ port: number; flags: string[] }> {
  return [...conf.matchAll(/^#\s+herald serve (.+)$/gm)].map((match) => {
    const words = match[1]!.trim().split(/\s+/);
    const port = Number(words[words.indexOf('--port') + 1]);
    const flags: string[] = [];
    for (let i = 0; i < words.length; i += 2) if (words[i] !== '--port') flags.push(words[i]!, words[i + 1]!);
    return { port, flags };
  });
}

/** The hub flags with this test's Redis and key prefix in place of the documented ones. */
function withRedis(flags: string[], prefix: string): string[] {
  const swapped = [...flags];
  for (const [flag, value] of [['--redis', SHARED_REDIS_URL], ['--redis-prefix', prefix]] as const) {
    const at = swapped.indexOf(flag);
    assert.ok(at >= 0, `the hub lines of docs/nginx/herald.conf give ${flag}`);
    swapped[at + 1] = value;
  }
  return swapped;
}

/** The committed file with only its listen port and the hubs' ports replaced. */
function generatedConf(conf: string, listenPort: number, hubPorts: number[]): string {
  const listens = conf.match(/^\s*listen 80;/gm) ?? [];
  assert.equal(listens.length, 1, 'docs/nginx/herald.conf has one `listen 80;`');
  const servers = conf.match(/^\s*server 127\.0\.0\.1:\d+ /gm) ?? [];
  assert.equal(servers.length, hubPorts.length, `docs/nginx/herald.conf names ${hubPorts.length} hubs in its upstream`);
  let next = 0;
  return conf
    .replace(/^(\s*)listen 80;/m, `$1listen 127.0.0.1:${listenPort};`)
    .replace(/^(\s*)server 127\.0\.0\.1:\d+ /gm, (_, indent: string) => `${indent}server 127.0.0.1:${hubPorts[next++]} `);
}

/** nginx's own files: the committed file included inside `http { }`, as Debian's nginx.conf does. */
function mainConf(dir: string): string {
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/herald.conf;
}
`;
}

function logOf(dir: string): string {
  const file = join(dir, 'error.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

interface Nginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground (its PID is the child's) and waits until it proxies /health. */
async function startNginx(binary: string, dir: string, conf: string, hubPorts: number[]): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), mainConf(dir));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'herald.conf'), generatedConf(conf, port, hubPorts));
    const child: ChildProcess = spawn(binary, ['-e', join(dir, 'error.log'), '-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
    };
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    while (child.exitCode === null) {
      const health = await request('GET', `${url}/health`).catch(() => undefined);
      if (health?.status === 200) return { url, port, stop };
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not answer on ${url} within 10 s:\n${logOf(dir)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await exited;
    const said = `${stderr}${logOf(dir)}`;
    // Another process took the port between freePort() and nginx's bind: take another.
    if (attempt < 3 && /in use/.test(said)) continue;
    throw new Error(`nginx exited at start:\n${said}`);
  }
}

interface Cluster {
  hubs: HubProcess[];
  /** nginx: the one address clients are given. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The hubs of one connection: read on each hub directly (its /health counts WebSocket and SSE connections). */
async function hubsHolding(hubs: HubProcess[]): Promise<HubProcess[]> {
  const counts = await Promise.all(hubs.map(async (hub) => (hub.child.exitCode === null && hub.child.signalCode === null ? (await getJson(`${hub.url}/health`)).json.connections as number : 0)));
  return hubs.filter((_, i) => counts[i]! > 0);
}

/** Reads an SSE response as it comes: every complete message, with when it arrived. */
function sseReader(res: IncomingMessage) {
  const messages: Array<{ event: string; id?: string; data: string; at: number }> = [];
  let buffer = '';
  let ended = false;
  res.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
      if (fields.has('data')) messages.push({ event: fields.get('event') ?? 'message', id: fields.get('id'), data: fields.get('data')!, at: Date.now() });
    }
  });
  res.on('end', () => (ended = true));
  res.on('close', () => (ended = true));
  return { messages, ended: () => ended };
}

const nginx = findNginx();
const redis = await redisAnswers(SHARED_REDIS_URL);
const prefixes = scratchPrefixes();
const dirs = scratchDirs('herald-nginx-');

const missing = !nginx ? 'nginx is not installed (apt-get install nginx, or set NGINX to its path)' : !redis ? `no Redis answers at ${SHARED_REDIS_URL}` : undefined;
if (missing) {
  if (process.env.CI === 'true') it('nginx in front of a cluster needs nginx and Redis', () => assert.fail(missing));
  else it(`nginx in front of a cluster skipped: ${missing}`, (t) => t.skip(missing));
} else {
  const conf = readFileSync(COMMITTED_CONF, 'utf8');
  const hubLines = documentedHubs(conf);

  /** Two `herald serve` processes on one Redis, run with the flags the file documents, and nginx in front. */
  async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
    const prefix = prefixes();
    // spawnHub passes this process's environment on, read when it spawns (before its first await).
    const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
    Object.assign(process.env, env);
    const spawning = Promise.all(hubLines.map((line) => spawnHub(dirs(), withRedis(line.flags, prefix))));
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    const hubs = await spawning;
    try {
      const proxy = await startNginx(nginx!, dirs(), conf, hubs.map((h) => h.port));
      return {
        hubs,
        url: proxy.url,
        port: proxy.port,
        stop: async () => {
          await proxy.stop();
          await Promise.all(hubs.map((h) => h.kill()));
        },
      };
    } catch (error) {
      await Promise.all(hubs.map((h) => h.kill()));
      throw error;
    }
  }

  describe('nginx in front of two hubs on one Redis (docs/nginx/herald.conf)', () => {
    it('the file documents one hub line per upstream server, with the same ports', () => {
      assert.equal(hubLines.length, 2);
      const upstream = [...conf.matchAll(/^\s*server 127\.0\.0\.1:(\d+) /gm)].map((m) => Number(m[1]));
      assert.deepEqual(hubLines.map((h) => h.port), upstream);
      for (const line of hubLines) assert.ok(line.flags.includes('--public-url'), 'every hub is given the public URL');
    });

    it('passes publishes, WebSocket upgrades, unbuffered SSE and the dashboard, keeping the hub\'s host and origin checks', async () => {
      const cluster = await startCluster();
      // What a browser on the public name sends (port included: nginx listens on a test port here).
      const site = { host: `herald.example.com:${cluster.port}`, origin: `http://herald.example.com:${cluster.port}` };
      try {
        const publish = async (n: number) => {
          const answer = await request('POST', `${cluster.url}/api/channels/lb.one/events`, JSON.stringify({ type: 'n', data: { n } }), site);
          assert.equal(answer.status, 201, answer.text);
          return JSON.parse(answer.text).offsets[0] as number;
        };
        assert.equal(await publish(1), 1);

        // A WebSocket through nginx, as the hub's own page opens it: upgraded, greeted, replayed, live.
        const ws = await TestClient.connect(cluster.url, '', { headers: { host: site.host }, origin: site.origin });
        try {
          await ws.waitFor((m) => m.op === 'hello', 'hello through nginx');
          const subscribed = await ws.request({ op: 'subscribe', channel: 'lb.one', since: { offset: 0 } });
          assert.equal(subscribed.op, 'subscribed');
          await ws.waitFor((m) => m.op === 'event' && m.offset === 1, 'the replayed event');

          // An SSE stream through nginx; what is published after it opened must arrive while it stays open.
          const stream = await new Promise<IncomingMessage>((resolve, reject) => {
            const req = httpRequest(`${cluster.url}/api/channels/lb.one/stream`, { agent: false, headers: { ...site, accept: 'text/event-stream', 'accept-encoding': 'gzip, deflate, br' } }, resolve);
            req.on('error', reject);
            req.end();
          });
          try {
            assert.equal(stream.statusCode, 200);
            assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
            // A browser asks for compression; a compressed stream is held back until the compressor's buffer fills.
            assert.equal(stream.headers['content-encoding'], undefined, 'the stream is not compressed on the way');
            const sse = sseReader(stream);
            await until(() => sse.messages.some((m) => m.event === 'subscribed'), 'the stream\'s subscribed event through nginx', 5000);
            const sent = Date.now();
            assert.equal(await publish(2), 2);
            await until(() => sse.messages.some((m) => m.id?.startsWith('2@')), 'event 2 on the open stream', 5000);
            const arrived = sse.messages.find((m) => m.id?.startsWith('2@'))!;
            assert.ok(arrived.at - sent < 1000, `event 2 reached the stream ${arrived.at - sent} ms after it was published: nginx buffers the stream`);
            assert.equal(JSON.parse(arrived.data).event.data.n, 2);
            assert.equal(sse.ended(), false, 'the stream stays open');
            await ws.waitFor((m) => m.op === 'event' && m.offset === 2, 'event 2 live on the WebSocket');
          } finally {
            stream.destroy();
          }
        } finally {
          ws.close();
        }

        // The dashboard's page and its script, through nginx under the public name.
        const page = await request('GET', `${cluster.url}/`, undefined, { host: site.host });
        assert.equal(page.status, 200);
        assert.match(String(page.headers['content-type']), /^text\/html/);
        assert.match(page.text, /<title>Herald<\/title>/);
        const script = /src="\.?\/?(assets\/[^"]+\.js)"/.exec(page.text)?.[1];
        assert.ok(script, 'the page names its script');
        const code = await request('GET', `${cluster.url}/${script}`, undefined, { host: site.host });
        assert.equal(code.status, 200);
        assert.match(String(code.headers['content-type']), /javascript/);

        // The hub's checks still see the browser's Host and Origin through nginx.
        const rebound = await request('GET', `${cluster.url}/api/channels/lb.one/events`, undefined, { host: `rebind.evil.example:${cluster.port}` });
        assert.equal(rebound.status, 421, rebound.text);
        const foreign = await request('GET', `${cluster.url}/api/channels/lb.one/events`, undefined, { host: site.host, origin: 'https://evil.example' });
        assert.equal(foreign.status, 403, foreign.text);
        assert.equal(JSON.parse(foreign.text).error.code, 'origin_not_allowed');
        assert.equal(await TestClient.upgradeStatus(cluster.url, { host: site.host, origin: 'https://evil.example' }), 403);
      } finally {
        await cluster.stop();
      }
    });

    it('with credentials required: a dashboard sign-in and SSE tickets work through nginx, whichever hub each request reaches', async () => {
      const secret = randomBytes(32).toString('base64');
      const cluster = await startCluster({ HERALD_JWT_SECRET: secret });
      const site = { host: `herald.example.com:${cluster.port}`, origin: `http://herald.example.com:${cluster.port}` };
      try {
        const token = await mintToken(secret, { subject: 'ops', grant: { subscribe: ['>'], publish: ['>'], admin: false }, ttlSeconds: 600 });
        // The dashboard signs in once, then every request carries the cookie: whichever hub nginx picks
        // (least_conn) must know the session — the hubs share sessions through Redis.
        const signIn = await request('POST', `${cluster.url}/api/auth/session`, JSON.stringify({ credential: token }), site);
        assert.equal(signIn.status, 200, signIn.text);
        const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
        assert.match(cookie, /^herald_session=./);
        for (let i = 0; i < 6; i++) {
          const me = await request('GET', `${cluster.url}/api/auth/me`, undefined, { ...site, cookie });
          assert.equal(JSON.parse(me.text).principal?.name, 'ops', `request ${i + 1} after sign-in still signed in: ${me.text}`);
        }
        // EventSource buys a ticket, then opens the stream with it: two requests, maybe two hubs.
        for (let i = 0; i < 6; i++) {
          const bought = await request('POST', `${cluster.url}/api/auth/ticket`, undefined, { ...site, authorization: `Bearer ${token}` });
          assert.equal(bought.status, 200, bought.text);
          const { ticket } = JSON.parse(bought.text) as { ticket: string };
          const status = await new Promise<number>((resolve, reject) => {
            const req = httpRequest(`${cluster.url}/api/channels/lb.tickets/stream?ticket=${ticket}`, { agent: false, headers: site }, (res) => {
              resolve(res.statusCode ?? 0);
              res.destroy();
            });
            req.on('error', reject);
            req.end();
          });
          assert.equal(status, 200, `stream ${i + 1} opened with its ticket`);
        }
      } finally {
        await cluster.stop();
      }
    });

    for (const transport of ['websocket', 'sse'] as TransportName[]) {
      it(`a hub SIGKILLed: a @herald/client on ${transport} reconnects through nginx to the other hub and resumes with no gap`, async () => {
        const cluster = await startCluster();
        const client = createClient({
          url: cluster.url,
          transports: [transport],
          WebSocket: WebSocket as unknown as WebSocketConstructor,
          EventSource: EventSource as never,
          backoff: { initialDelayMs: 20, maxDelayMs: 200 },
        });
        try {
          const states: string[] = [];
          client.on('state', ({ to }) => states.push(to));
          const seen: Array<{ offset: number; n: number }> = [];
          const sub = client.subscribe<{ n: number }>('lb.failover', (e) => seen.push({ offset: e.offset, n: e.event.data!.n }));
          await until(() => sub.state === 'subscribed', `the subscription over ${transport}`);
          const holding = await hubsHolding(cluster.hubs);
          assert.equal(holding.length, 1, 'the client holds one connection, on one hub');
          const killed = holding[0]!;
          const survivor = cluster.hubs.find((h) => h !== killed)!;

          const acknowledged = new Map<number, number>();
          for (let n = 1; n <= 60; n++) {
            // Through nginx: after the kill, publishes that nginx sends to the dead hub are refused at
            // connect and go to the other (nothing reached the dead one, so even a POST is passed on).
            const { status, json } = await postEvents(cluster.url, 'lb.failover', { type: 'n', data: { n } });
            assert.equal(status, 201, JSON.stringify(json));
            acknowledged.set(json.offsets[0], n);
            if (n === 20) await killed.kill(); // SIGKILL: nginx sees the hub's sockets reset
          }
          await until(() => seen.length >= 60, 'all 60 events at the client', 15_000);
          await new Promise((r) => setTimeout(r, 100));
          assert.deepEqual(seen.map((e) => e.offset), Array.from({ length: 60 }, (_, i) => i + 1), 'every offset once, in order');
          assert.deepEqual(seen.map((e) => e.n), seen.map((e) => acknowledged.get(e.offset)), 'each offset is the event acknowledged with it');
          // Over WebSocket the client's connection drops and comes back; over SSE its stream does (the
          // client stays connected, sending over HTTP): either way it is on the other hub now.
          if (transport === 'websocket') assert.ok(states.lastIndexOf('disconnected') > states.indexOf('connected'), `the client lost its hub and came back (states: ${states.join(', ')})`);
          assert.equal(client.state, 'connected');
          assert.deepEqual(await hubsHolding(cluster.hubs), [survivor], 'the client is on the other hub now');
        } finally {
          client.close();
          await cluster.stop();
        }
      });
    }
  });
}
