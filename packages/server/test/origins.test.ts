import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

const EVIL = 'http://evil.example';

const upgrade = (hub: TestHub, headers: Record<string, string>) => TestClient.upgradeStatus(hub.url, headers);

/**
 * Browsers in open mode: a hub on 127.0.0.1 with no credentials is still not for every page the user
 * happens to open. Pages give themselves away by `Origin`; DNS rebinding by `Host`.
 */
describe('origins and hosts (open mode)', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ corsOrigin: 'https://app.example.com' });
    await request('POST', `${hub.url}/api/channels/o.one/events`, '{"type":"seed"}');
  });
  after(() => hub.dispose());

  it('a foreign origin gets 403 on every door: upgrade, SSE, reads, publish (also text/plain), delete, preflight', async () => {
    const origin = { origin: EVIL };
    assert.equal(await upgrade(hub, origin), 403);
    for (const [method, path, body, type] of [
      ['GET', '/api/channels/o.one/stream?since=0'],
      ['GET', '/api/channels/o.one/events'],
      ['GET', '/api/channels'],
      ['GET', '/metrics'],
      ['POST', '/api/channels/o.one/events', '{"type":"x"}', 'text/plain'],
      ['POST', '/api/channels/o.one/events', '{"type":"x"}', 'application/json'],
      ['DELETE', '/api/channels/o.one'],
      ['OPTIONS', '/api/channels/o.one/events'],
    ] as const) {
      const res = await request(method, `${hub.url}${path}`, body, { ...origin, ...(type ? { 'content-type': type } : {}), 'access-control-request-method': 'DELETE' });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal(JSON.parse(res.text).error.code, 'origin_not_allowed');
      assert.equal(res.headers['access-control-allow-origin'], undefined, 'no CORS header for a refused origin');
    }
    const history = await request('GET', `${hub.url}/api/channels/o.one/events`);
    assert.equal(JSON.parse(history.text).latest, 1, 'nothing was published or deleted');
  });

  it('a text/plain POST is refused with 415 even from an allowed page', async () => {
    const res = await request('POST', `${hub.url}/api/channels/o.one/events`, '{"type":"x"}', { origin: 'http://localhost:5173', 'content-type': 'text/plain' });
    assert.equal(res.status, 415);
  });

  it('loopback origins (a Vite dev server), listed origins and the hub itself work, with CORS naming that origin', async () => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:3000', 'https://app.example.com', hub.url]) {
      const res = await request('GET', `${hub.url}/api/channels`, undefined, { origin });
      assert.equal(res.status, 200, origin);
      if (origin !== hub.url) assert.equal(res.headers['access-control-allow-origin'], origin);
      const preflight = await request('OPTIONS', `${hub.url}/api/channels/o.one/events`, undefined, { origin, 'access-control-request-method': 'POST' });
      assert.ok(preflight.status === 204 || (origin === hub.url && preflight.status === 200), `${origin}: ${preflight.status}`);
      assert.equal(await upgrade(hub, { origin }), 'open');
    }
  });

  it('a forged Host (DNS rebinding) is refused on HTTP and on the upgrade; IP addresses and localhost pass', async () => {
    const port = new URL(hub.url).port;
    const forged = { host: `rebind.evil.example:${port}` };
    const res = await request('GET', `${hub.url}/api/channels`, undefined, forged);
    assert.equal(res.status, 421);
    assert.equal(JSON.parse(res.text).error.code, 'host_not_allowed');
    assert.equal(await upgrade(hub, forged), 421);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      assert.equal((await request('GET', `${hub.url}/health`, undefined, { host })).status, 200, host);
    }
  });
});
