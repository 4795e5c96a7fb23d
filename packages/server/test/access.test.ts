import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { EventSource } from 'eventsource';
import type { Grant } from '@herald/protocol';
import { KeyStore, mintToken, startServer } from '../src/index.js';
import { bearer, getJson, request, scratchDirs, startHub, type TestHub } from './support/hub.js';
import { until } from './support/process.js';
import { TestClient } from './support/ws-client.js';

const SECRET = 'an-hs256-secret-long-enough-for-tests-0123456789';
const TEAM_A: Grant = { subscribe: ['runs.team-a.>'], publish: ['runs.team-a.>'], admin: false };
const ADMIN: Grant = { subscribe: [], publish: [], admin: true };
const dirs = scratchDirs('herald-access-');

async function publishAs(hub: TestHub, credential: string, channel: string, events: unknown): Promise<{ status: number; json: any }> {
  const { status, text } = await request('POST', `${hub.url}/api/channels/${channel}/events`, JSON.stringify(events), bearer(credential));
  return { status, json: JSON.parse(text) };
}

const upgradeStatus = (hub: TestHub, headers: Record<string, string>) => TestClient.upgradeStatus(hub.url, headers);

describe('tokens that must be refused', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  let hub: TestHub;
  const sign = (claims: Record<string, unknown>, key = rsa.privateKey) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(key);
  const good = { sub: 'alice', aud: 'herald', iss: 'https://issuer.test', herald: { subscribe: ['>'] } };
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    const dir = dirs();
    writeFileSync(join(dir, 'public.pem'), publicPem);
    hub = await startHub({ dataDir: dir, jwtPublicKey: join(dir, 'public.pem'), jwtAudience: 'herald', jwtIssuer: 'https://issuer.test' });
  });
  after(() => hub.dispose());

  it('accepts a good RS256 token (the control case)', async () => {
    const token = await sign({ ...good, exp: now() + 60 });
    assert.equal((await getJson(`${hub.url}/api/channels`, bearer(token))).status, 200);
  });

  const cases: Array<[string, () => Promise<string>]> = [
    ['alg:none', async () => new UnsecuredJWT({ ...good, exp: now() + 60 }).encode()],
    ['HS256 signed with the RSA public key as the secret (algorithm confusion)', async () =>
      new SignJWT({ ...good, exp: now() + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem))],
    ['expired', () => sign({ ...good, exp: now() - 10 })],
    ['not yet valid (nbf in the future)', () => sign({ ...good, exp: now() + 600, nbf: now() + 300 })],
    ['wrong audience', () => sign({ ...good, aud: 'someone-else', exp: now() + 60 })],
    ['wrong issuer', () => sign({ ...good, iss: 'https://evil.test', exp: now() + 60 })],
    ['bad signature (another key)', () => sign({ ...good, exp: now() + 60 }, other.privateKey)],
    ['missing exp', () => sign({ ...good })],
    ['malformed herald claim', () => sign({ ...good, herald: { subscribe: 'everything' }, exp: now() + 60 })],
    ['garbage', async () => 'not.a.token'],
  ];
  for (const [what, make] of cases) {
    it(`refuses ${what}: 401 over HTTP, 401 on the upgrade, close 4401 after an auth frame`, async () => {
      const token = await make();
      const http = await getJson(`${hub.url}/api/channels`, bearer(token));
      assert.equal(http.status, 401);
      assert.equal(http.json.error.code, 'unauthorized');
      assert.ok(!http.json.error.message.includes(token), 'the error never echoes the token');
      assert.equal(await upgradeStatus(hub, bearer(token)), 401);
      const client = await TestClient.connect(hub.url);
      client.sendRaw(JSON.stringify({ op: 'auth', token }));
      assert.equal((await client.closed).code, 4401);
      assert.equal(client.messages.filter((m) => m.op === 'hello').length, 0, 'no hello before credentials');
    });
  }

  it('closes a socket that sends no auth frame in time with 4005, and one that sends a command first with 4401', async () => {
    const quiet = await startHub({ jwtSecret: SECRET, authTimeoutMs: 300 });
    try {
      const silent = await TestClient.connect(quiet.url);
      const started = Date.now();
      assert.equal((await silent.closed).code, 4005);
      assert.ok(Date.now() - started < 3000);
      const eager = await TestClient.connect(quiet.url);
      eager.sendRaw(JSON.stringify({ op: 'subscribe', id: 1, channel: '>' }));
      assert.equal((await eager.closed).code, 4401);
    } finally {
      await quiet.dispose();
    }
  });
});

describe('a team-a credential cannot reach team-b through any door', () => {
  let hub: TestHub;
  let keyA: string;
  let admin: string;
  let tokenA: string;

  before(async () => {
    const dataDir = dirs();
    const keys = new KeyStore(dataDir);
    keyA = (await keys.create('team-a', TEAM_A)).key;
    admin = (await keys.create('admin', ADMIN)).key;
    await keys.close();
    hub = await startHub({ dataDir, jwtSecret: SECRET });
    tokenA = await mintToken(SECRET, { subject: 'alice', grant: TEAM_A, ttlSeconds: 600 });
    for (const team of ['team-a', 'team-b']) {
      const res = await publishAs(hub, admin, `runs.${team}.build`, [
        { type: 'run.started', data: { title: `${team} build` } },
        { type: 'log', data: { message: `${team} secret-word-${team}` } },
        { type: 'metric', data: { name: 'latency', value: 1 } },
      ]);
      assert.equal(res.status, 201);
    }
    await until(() => hub.runs.get('team-b.build') !== undefined, 'the runs to be tracked');
  });
  after(() => hub.dispose());

  for (const [label, credential] of [['API key', () => keyA], ['JWT', () => tokenA]] as const) {
    it(`${label}: WebSocket subscribe, pattern subscribe, resume, snapshot and publish`, async () => {
      const client = await TestClient.connect(hub.url);
      client.sendRaw(JSON.stringify({ op: 'auth', token: credential() }));
      const hello = await client.waitFor((m) => m.op === 'hello');
      assert.ok(hello.auth.name === 'team-a' || hello.auth.name === 'alice');
      const refused = [
        { channel: 'runs.team-b.build' },
        { channel: 'runs.>' },
        { channel: 'runs.*' },
        { channel: '>' },
        { channel: 'runs.*.build' },
        { channel: 'runs' },
        { channel: 'runs.team-b.build', since: { offset: 0 } },
        { channel: 'runs.>', since: { time: 0 } },
        { channel: 'runs.team-b.build', snapshot: true },
      ];
      for (const command of refused) {
        const reply = await client.request({ op: 'subscribe', ...command });
        assert.equal(reply.op, 'error', JSON.stringify(command));
        assert.equal(reply.code, 'forbidden', JSON.stringify(command));
      }
      const publish = await client.request({ op: 'publish', channel: 'runs.team-b.build', event: { type: 'log' } });
      assert.equal(publish.code, 'forbidden');
      const allowed = await client.request({ op: 'subscribe', channel: 'runs.team-a.>', since: { time: 0 } });
      assert.equal(allowed.op, 'subscribed');
      await client.waitForEvents(3);
      assert.deepEqual([...new Set(client.events().map((e) => e.channel))], ['runs.team-a.build']);
      const own = await client.request({ op: 'publish', channel: 'runs.team-a.build', event: { type: 'log', data: { message: 'mine' } } });
      assert.equal(own.op, 'published');
      client.close();
    });

    it(`${label}: history, SSE, runs, metrics, search, channel list, stats, metrics endpoint, delete and publish over HTTP`, async () => {
      const auth = bearer(credential());
      const forbidden = async (method: string, path: string, body?: string) => {
        const { status, text } = await request(method, `${hub.url}${path}`, body, auth);
        assert.equal(status, 403, `${method} ${path}: ${text}`);
        assert.equal(JSON.parse(text).error.code, 'forbidden');
      };
      await forbidden('GET', '/api/channels/runs.team-b.build/events');
      await forbidden('GET', '/api/channels/runs.team-b.build/events?since=1');
      await forbidden('GET', '/api/channels/runs.team-b.build/stream');
      await forbidden('GET', '/api/channels/runs.>/stream');
      await forbidden('GET', '/api/channels/%3E/stream');
      await forbidden('GET', '/api/runs/team-b.build');
      await forbidden('GET', '/api/runs/team-b.build/metrics');
      await forbidden('GET', '/api/stats');
      await forbidden('GET', '/metrics');
      await forbidden('DELETE', '/api/channels/runs.team-b.build');
      await forbidden('DELETE', '/api/channels/runs.team-a.build');
      await forbidden('POST', '/api/channels/runs.team-b.build/events', '{"type":"log"}');

      const channels = await getJson(`${hub.url}/api/channels`, auth);
      assert.deepEqual(channels.json.channels.map((c: any) => c.name), ['runs.team-a.build']);
      const runs = await getJson(`${hub.url}/api/runs`, auth);
      assert.deepEqual(runs.json.runs.map((r: any) => r.id), ['team-a.build']);
      const search = await getJson(`${hub.url}/api/search?q=secret`, auth);
      assert.deepEqual([...new Set(search.json.hits.map((h: any) => h.runId))], ['team-a.build']);
      const history = await getJson(`${hub.url}/api/channels/runs.team-a.build/events`, auth);
      assert.equal(history.status, 200);
      assert.equal((await getJson(`${hub.url}/api/runs/team-a.build`, auth)).json.id, 'team-a.build');
    });
  }

  it('only the hub writes the runs summary channel, even for admin', async () => {
    const res = await publishAs(hub, admin, 'runs', { type: 'run.summary', data: { id: 'fake' } });
    assert.equal(res.status, 403);
    assert.match(res.json.error.message, /written by the hub only/);
  });

  it('an admin key sees everything', async () => {
    const channels = await getJson(`${hub.url}/api/channels`, bearer(admin));
    assert.ok(channels.json.channels.some((c: any) => c.name === 'runs.team-b.build'));
    assert.equal((await getJson(`${hub.url}/api/stats`, bearer(admin))).status, 200);
  });

  it('without credentials: 401 everywhere but /health and /api/auth/me', async () => {
    for (const path of ['/api/channels', '/api/runs', '/api/search?q=x', '/api/stats', '/metrics', '/api/channels/runs.team-a.build/events', '/api/channels/runs.team-a.build/stream']) {
      assert.equal((await request('GET', `${hub.url}${path}`)).status, 401, path);
    }
    assert.equal((await request('GET', `${hub.url}/health`)).status, 200);
    assert.deepEqual((await getJson(`${hub.url}/api/auth/me`)).json, { mode: 'required' });
  });

  it('SSE from a browser: a ticket opens only what its credential may read', async () => {
    const ticketReply = await request('POST', `${hub.url}/api/auth/ticket`, undefined, bearer(keyA));
    assert.equal(ticketReply.status, 200);
    const { ticket } = JSON.parse(ticketReply.text);
    assert.equal((await request('GET', `${hub.url}/api/channels/runs.team-b.build/stream?ticket=${ticket}`)).status, 403);
    assert.equal((await request('GET', `${hub.url}/api/channels/runs.team-a.build/events?ticket=${ticket}`)).status, 401, 'a ticket opens streams only');
    const source = new EventSource(`${hub.url}/api/channels/runs.team-a.build/stream?since=0&ticket=${ticket}`);
    const data: string[] = [];
    source.onmessage = (m) => data.push(m.data);
    await until(() => data.length >= 3, 'the replayed team-a history');
    source.close();
  });
});

describe('revoking a key', () => {
  it('stops it at once, also on connections already open (WebSocket and SSE), when revoked by another process', async () => {
    const dataDir = dirs();
    const keys = new KeyStore(dataDir);
    const { key } = await keys.create('ci', { subscribe: ['>'], publish: ['>'], admin: false });
    await keys.create('keep', { subscribe: ['>'], publish: [], admin: false });
    const hub = await startHub({ dataDir });
    try {
      const ws = await TestClient.connect(hub.url, '', { headers: bearer(key) });
      await ws.waitFor((m) => m.op === 'hello');
      assert.equal((await ws.request({ op: 'subscribe', channel: 'x' })).op, 'subscribed');
      const source = new EventSource(`${hub.url}/api/channels/x/stream`, { fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...bearer(key) } }) });
      let sseErrors = 0;
      source.onerror = () => sseErrors++;
      await new Promise((resolve) => (source.onopen = resolve));
      assert.equal((await publishAs(hub, key, 'x', { type: 'before' })).status, 201);

      const started = Date.now();
      assert.equal(await keys.revoke('ci'), true); // another connection to keys.db, as `herald keys revoke` would be
      const closed = await ws.closed;
      assert.equal(closed.code, 4401);
      assert.match(closed.reason, /revoked/);
      assert.ok(Date.now() - started < 2000, `closed ${Date.now() - started} ms after the revoke`);
      await until(() => sseErrors > 0, 'the SSE stream to end');
      source.close();
      assert.equal((await publishAs(hub, key, 'x', { type: 'after' })).status, 401);
      assert.equal(await upgradeStatus(hub, bearer(key)), 401);
    } finally {
      await keys.close();
      await hub.dispose();
    }
  });
});

describe('dashboard sessions', () => {
  it('a session cookie opens the WebSocket; signing out closes it at once and the cookie is dead on the next upgrade', async () => {
    const hub = await startHub({ jwtSecret: SECRET });
    try {
      const token = await mintToken(SECRET, { subject: 'viewer', grant: { subscribe: ['>'], publish: [], admin: false }, ttlSeconds: 600 });
      const signIn = await request('POST', `${hub.url}/api/auth/session`, JSON.stringify({ credential: token }));
      assert.equal(signIn.status, 200);
      const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
      assert.match(String(signIn.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
      const ws = await TestClient.connect(hub.url, '', { headers: { cookie } });
      assert.equal((await ws.waitFor((m) => m.op === 'hello')).auth.name, 'viewer');
      assert.equal((await ws.request({ op: 'subscribe', channel: 'x' })).op, 'subscribed');
      const signOut = await request('DELETE', `${hub.url}/api/auth/session`, undefined, { cookie });
      assert.equal(signOut.status, 200);
      assert.equal((await ws.closed).code, 4401);
      assert.equal(await upgradeStatus(hub, { cookie }), 401, 'a dead session cookie is refused outright, not left waiting for auth');
      assert.equal((await request('GET', `${hub.url}/api/channels`, undefined, { cookie })).status, 401);
    } finally {
      await hub.dispose();
    }
  });
});

describe('client ids are scoped to who holds them', () => {
  it('another credential cannot squat a client id; the same one replaces its old connection (4006)', async () => {
    const hub = await startHub({ jwtSecret: SECRET });
    try {
      const token = (sub: string) => mintToken(SECRET, { subject: sub, grant: { subscribe: ['>'], publish: [], admin: false }, ttlSeconds: 60 });
      const squatter = await TestClient.connect(hub.url, '?clientId=worker-1', { headers: bearer(await token('mallory')) });
      await squatter.waitFor((m) => m.op === 'hello');
      const worker = await TestClient.connect(hub.url, '?clientId=worker-1', { headers: bearer(await token('worker')) });
      assert.equal((await worker.waitFor((m) => m.op === 'hello')).clientId, 'worker-1');
      const twin = await TestClient.connect(hub.url, '?clientId=worker-1', { headers: bearer(await token('worker')) });
      assert.equal((await twin.waitFor((m) => m.op === 'hello')).clientId, 'worker-1');
      assert.equal((await worker.closed).code, 4006);
      assert.equal(squatter.ws.readyState, squatter.ws.OPEN, "another credential's connection is not replaced");
      squatter.close();
      twin.close();
    } finally {
      await hub.dispose();
    }
  });
});

describe('secrets stay secret', () => {
  it('keys and tokens appear in no log line, error, stats or metrics', async () => {
    const dataDir = dirs();
    const keys = new KeyStore(dataDir);
    const { key } = await keys.create('admin', ADMIN);
    await keys.close();
    let logged = '';
    const logStream = new PassThrough();
    logStream.on('data', (d: Buffer) => (logged += d.toString()));
    const server = await startServer({ port: 0, dataDir, jwtSecret: SECRET, logLevel: 'trace' }, { logStream });
    try {
      const expired = await new SignJWT({ sub: 'x', exp: 1 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
      const wrongKey = `${key.slice(0, -4)}AAAA`;
      for (const credential of [expired, wrongKey, key]) {
        await request('GET', `${server.url}/api/channels/x/events?ticket=${credential}`, undefined, bearer(credential));
        await request('GET', `${server.url}/api/channels/x/stream?ticket=${credential}`);
        await request('GET', `${server.url}/nope?token=${credential}`, undefined, { cookie: `herald_session=${credential}` });
      }
      const stats = await request('GET', `${server.url}/api/stats`, undefined, bearer(key));
      const metrics = await request('GET', `${server.url}/metrics`, undefined, bearer(key));
      for (const text of [logged, stats.text, metrics.text]) {
        for (const secret of [key, wrongKey, expired, SECRET]) assert.ok(!text.includes(secret), 'a credential leaked');
      }
      assert.ok(logged.length > 0, 'the hub did log (trace level)');
    } finally {
      await server.close();
    }
  });
});

describe('safe defaults', () => {
  it('refuses to start open on a non-loopback address unless --insecure; starts with credentials', async () => {
    await assert.rejects(startServer({ port: 0, host: '0.0.0.0', dataDir: dirs(), logLevel: 'silent' }), /refusing to listen on 0\.0\.0\.0/);
    const insecure = await startServer({ port: 0, host: '0.0.0.0', dataDir: dirs(), logLevel: 'silent', insecure: true });
    await insecure.close();
    const secured = await startServer({ port: 0, host: '0.0.0.0', dataDir: dirs(), logLevel: 'silent', jwtSecret: SECRET });
    assert.equal(secured.hub.access.mode, 'required');
    await secured.close();
  });

  it('refuses weak secrets and a "*" CORS origin with a sentence', async () => {
    await assert.rejects(startServer({ port: 0, dataDir: dirs(), logLevel: 'silent', jwtSecret: 'short' }), /at least 32 characters/);
    await assert.rejects(startServer({ port: 0, dataDir: dirs(), logLevel: 'silent', corsOrigin: '*' }), /every web page/);
  });
});
