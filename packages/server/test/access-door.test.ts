import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CLIENT_OPS } from '@herald/protocol';
import { mintToken } from '../src/index.js';
import { bearer, request, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const SECRET = 'door-test-secret-that-is-long-enough-0123456789';

/** Routes anyone may call: they read nothing on anyone's behalf. Every other route must ask the policy. */
const PUBLIC = new Set(['GET /health', 'HEAD /health', 'GET /api/auth/me', 'HEAD /api/auth/me', 'POST /api/auth/session', 'DELETE /api/auth/session', 'OPTIONS /*', 'GET /', 'HEAD /']);

/** A valid request for a route: parameters filled in, required query parameters given. */
function fill(url: string): string {
  const path = url.replace(':channel', 'runs.door').replace(':id', 'door').replace(':clientId', 'door').replace('*', 'x');
  return path === '/api/search' ? `${path}?q=x` : path;
}

/**
 * One door: every route registered on the hub — including routes added after this test was written —
 * and every WebSocket op is walked, and each one that touches channels, runs or hub numbers must have
 * consulted the access policy (its decision counter moved) and refused a caller without permission.
 */
describe('every door consults the access policy', () => {
  let hub: TestHub;
  let nobody: string;
  before(async () => {
    hub = await startHub({ jwtSecret: SECRET });
    nobody = await mintToken(SECRET, { subject: 'nobody', grant: { subscribe: [], publish: [], admin: false }, ttlSeconds: 600 });
  });
  after(() => hub.dispose());

  it('walks every registered HTTP route', async () => {
    const routes = hub.routes.filter((r) => !PUBLIC.has(`${r.method} ${r.url}`));
    assert.ok(routes.length >= 10, `only ${routes.length} routes found`);
    for (const route of routes) {
      const url = `${hub.url}${fill(route.url)}`;
      const body = route.method === 'POST' ? '{"type":"x"}' : undefined;
      const anonymous = await request(route.method, url, body);
      assert.equal(anonymous.status, 401, `${route.method} ${route.url} without credentials: ${anonymous.text}`);
      const before = hub.hub.access.decisions;
      const denied = await request(route.method, url, body, bearer(nobody));
      assert.ok(hub.hub.access.decisions > before, `${route.method} ${route.url} did not consult the policy`);
      // A caller with no permissions gets a refusal, or a list filtered down to nothing (or a ticket,
      // which carries only the caller's own permissions).
      if (denied.status === 200 && route.method === 'HEAD') continue; // its GET twin's body is checked
      if (denied.status === 200) {
        assert.ok(denied.text !== '', `${route.method} ${route.url} answered 200 with no body`);
        const json = JSON.parse(denied.text);
        if (route.url === '/api/auth/ticket') continue;
        const items = json.channels ?? json.runs ?? json.hits;
        assert.deepEqual(items, [], `${route.method} ${route.url} showed something to a caller with no permissions`);
      } else {
        assert.equal(denied.status, 403, `${route.method} ${route.url}: ${denied.text}`);
      }
    }
  });

  it('walks every WebSocket op', async () => {
    // What each op must do for a caller with no permissions; a new op fails here until it is added.
    const expected: Record<(typeof CLIENT_OPS)[number], { command: Record<string, unknown>; reply: string; consults: boolean }> = {
      subscribe: { command: { channel: 'runs.door' }, reply: 'forbidden', consults: true },
      publish: { command: { channel: 'runs.door', event: { type: 'x' } }, reply: 'forbidden', consults: true },
      unsubscribe: { command: { channel: 'runs.door' }, reply: 'not_subscribed', consults: false },
      ping: { command: {}, reply: 'pong', consults: false },
      auth: { command: { token: nobody }, reply: 'bad_request', consults: false },
      refresh: { command: { token: nobody }, reply: 'refreshed', consults: false },
      presence: { command: { channel: 'runs.door' }, reply: 'forbidden', consults: true },
      send: { command: { to: 'someone', event: { type: 'x' } }, reply: 'forbidden', consults: true },
      serve: { command: { channel: 'runs.door' }, reply: 'forbidden', consults: true },
      // Nothing to undo, nothing read: answered alike whether or not the channel was served.
      unserve: { command: { channel: 'runs.door' }, reply: 'unserved', consults: false },
      request: { command: { channel: 'runs.door', type: 'x' }, reply: 'forbidden', consults: true },
      // Only the connection a request was handed to may answer it (it was allowed to serve): nothing to ask.
      reply: { command: { requestId: 'r1', data: 1 }, reply: 'not_found', consults: false },
    };
    assert.deepEqual(Object.keys(expected).sort(), [...CLIENT_OPS].sort());
    const client = await TestClient.connect(hub.url);
    client.sendRaw(JSON.stringify({ op: 'auth', token: nobody }));
    await client.waitFor((m) => m.op === 'hello');
    for (const op of CLIENT_OPS) {
      const { command, reply, consults } = expected[op];
      const before = hub.hub.access.decisions;
      const answer = await client.request({ op, ...command });
      assert.equal(answer.op === 'error' ? answer.code : answer.op, reply, op);
      assert.equal(hub.hub.access.decisions > before, consults, `${op} ${consults ? 'did not consult' : 'consulted'} the policy`);
    }
    client.close();
  });
});
