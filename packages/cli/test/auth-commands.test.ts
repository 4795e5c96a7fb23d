import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { bearer, getJson, scratchDirs } from '../../server/test/support/hub.js';
import { CLI, spawnHub, until } from '../../server/test/support/process.js';

const dataDir = scratchDirs('herald-cli-auth-');
const SECRET = 'cli-auth-test-secret-that-is-long-enough-0123';

function herald(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HERALD_API_KEY: '', ...env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

describe('herald keys and herald token', () => {
  it('creates, lists and revokes keys; the hub requires them; publish and tail send them', async () => {
    const dir = dataDir();
    const created = await herald(['keys', 'create', '--data', dir, '--name', 'ci', '--allow', 'publish:runs.>', '--allow', 'subscribe:>']);
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^hk_[A-Za-z0-9_-]{32}$/);
    assert.match(created.stderr, /only time the key is shown/);
    const listed = await herald(['keys', 'list', '--data', dir, '--json']);
    assert.deepEqual(JSON.parse(listed.stdout).map((k: any) => [k.name, k.grant]), [['ci', { subscribe: ['>'], publish: ['runs.>'], admin: false }]]);
    assert.ok(!listed.stdout.includes(key), 'list never shows the key');
    assert.equal((await herald(['keys', 'create', '--data', dir, '--name', 'bad', '--allow', 'read:x'])).code, 2);

    const hub = await spawnHub(dir);
    try {
      assert.equal((await getJson(`${hub.url}/api/auth/me`)).json.mode, 'required');
      const refused = await herald(['publish', 'runs.cli', '--type', 'log', '{"message":"no key"}'], { HERALD_URL: hub.url });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /credentials required/);
      const env = { HERALD_URL: hub.url, HERALD_API_KEY: key };
      assert.equal((await herald(['publish', 'runs.cli', '--type', 'log', '{"message":"with key"}'], env)).code, 0);
      assert.equal((await herald(['publish', 'runs.cli', '--type', 'log', '--api-key', key, '{"message":"flag"}'], { HERALD_URL: hub.url })).code, 0);
      assert.notEqual((await herald(['publish', 'other', '--type', 'log', '{}'], env)).code, 0, 'the key may publish to runs.> only');

      const tail = spawn(process.execPath, [CLI, 'tail', 'runs.cli', '--since', '0', '--json'], { env: { ...process.env, ...env } });
      let tailed = '';
      tail.stdout.on('data', (d: Buffer) => (tailed += d.toString()));
      const tailExit = new Promise<number | null>((resolve) => tail.on('exit', resolve));
      await until(() => tailed.split('\n').filter(Boolean).length >= 2, 'tail to replay both events');

      const revoked = await herald(['keys', 'revoke', 'ci', '--data', dir]);
      assert.equal(revoked.code, 0, revoked.stderr);
      // The running hub notices the revoke by another process (it watches keys.db) within a second.
      const revokedAt = Date.now();
      const me = async () => (await getJson(`${hub.url}/api/auth/me`, bearer(key))).status;
      while ((await me()) === 200) assert.ok(Date.now() - revokedAt < 2000, 'the key still worked 2 s after the revoke');
      const after = await herald(['publish', 'runs.cli', '--type', 'log', '{}'], env);
      assert.notEqual(after.code, 0);
      assert.match(after.stderr, /unknown or revoked/);
      assert.equal((await herald(['keys', 'revoke', 'ci', '--data', dir])).code, 2, 'revoking twice says there is no such key');
      assert.equal(await tailExit, 1, 'tail, whose key was revoked under it, exits instead of hanging');
    } finally {
      await hub.kill();
    }
  });

  it('mints a development token that the hub accepts, with the permissions given', async () => {
    const hub = await spawnHub(dataDir(), ['--jwt-secret', SECRET]);
    try {
      const minted = await herald(['token', '--sub', 'alice', '--subscribe', 'runs.team-a.>', '--ttl', '10m'], { HERALD_JWT_SECRET: SECRET });
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      const me = await getJson(`${hub.url}/api/auth/me`, bearer(token));
      assert.equal(me.json.principal.name, 'alice');
      assert.deepEqual(me.json.principal.grant, { subscribe: ['runs.team-a.>'], publish: [], admin: false });
      assert.ok(me.json.principal.expiresAt > Date.now() + 9 * 60_000);
      assert.equal((await getJson(`${hub.url}/api/channels/runs.team-b.x/events`, bearer(token))).status, 403);
      assert.equal((await herald(['token', '--sub', 'x'], { HERALD_JWT_SECRET: '' })).code, 2);
    } finally {
      await hub.kill();
    }
  });
});
