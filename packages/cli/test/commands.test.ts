import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { getJson, scratchDirs } from '../../server/test/support/hub.js';
import { CLI, spawnHub, until } from '../../server/test/support/process.js';
import { TestClient } from '../../server/test/support/ws-client.js';

const dataDir = scratchDirs('herald-cli-');

/** Runs the herald CLI to completion and returns its exit code and output. */
function herald(args: string[], env: Record<string, string>, stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

async function events(url: string, channel: string): Promise<any[]> {
  return (await getJson(`${url}/api/channels/${channel}/events?limit=1000`)).json.events.map((e: any) => e.event);
}

describe('herald publish', () => {
  it('publishes an event, data with --type, and NDJSON from standard input', async () => {
    const hub = await spawnHub(dataDir());
    try {
      const env = { HERALD_URL: hub.url };
      assert.deepEqual(await herald(['publish', 'c.pub', '{"type":"hello","data":{"x":1}}'], env), { code: 0, stdout: 'c.pub #1\n', stderr: '' });
      assert.equal((await herald(['publish', 'c.pub', '--type', 'deploy', '--severity', 'success', '{"v":2}'], env)).code, 0);
      const piped = await herald(['publish', 'c.pub', '-'], env, '{"type":"a"}\n\n{"type":"b"}\n');
      assert.equal(piped.code, 0);
      assert.match(piped.stdout, /2 events published/);
      assert.deepEqual(await events(hub.url, 'c.pub'), [
        { type: 'hello', severity: 'info', data: { x: 1 } },
        { type: 'deploy', severity: 'success', data: { v: 2 } },
        { type: 'a', severity: 'info', id: (await events(hub.url, 'c.pub'))[2].id },
        { type: 'b', severity: 'info', id: (await events(hub.url, 'c.pub'))[3].id },
      ]);
      const refused = await herald(['publish', 'bad..name', '{"type":"x"}'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /invalid_channel/);
      const usage = await herald(['publish', 'c.pub', '{"no":"type"}'], env);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /needs|must be an event with a "type"/);
    } finally {
      await hub.kill();
    }
  });

  it('publishes an ephemeral event with --ephemeral: live subscribers get it, history does not', async () => {
    const hub = await spawnHub(dataDir());
    const watcher = await TestClient.connect(hub.url);
    try {
      const env = { HERALD_URL: hub.url };
      assert.equal((await watcher.request({ op: 'subscribe', channel: 'c.eph' })).op, 'subscribed');
      assert.deepEqual(await herald(['publish', 'c.eph', '--ephemeral', '--type', 'cursor', '{"x":4}'], env), { code: 0, stdout: 'c.eph ephemeral ×1\n', stderr: '' });
      const message = await watcher.waitFor((m) => m.op === 'ephemeral', 'the ephemeral event');
      assert.deepEqual(message.event, { type: 'cursor', severity: 'info', data: { x: 4 } });
      assert.deepEqual(await events(hub.url, 'c.eph'), []);
      const piped = await herald(['publish', 'c.eph', '-', '--ephemeral'], env, '{"type":"a"}\n');
      assert.equal(piped.code, 2);
      assert.match(piped.stderr, /--ephemeral publishes the event given as an argument/);
    } finally {
      watcher.close();
      await hub.kill();
    }
  });
});

describe('herald run', () => {
  it('publishes the command as a run and exits with its exit code', async () => {
    const hub = await spawnHub(dataDir());
    try {
      const script = "console.log('hello from the child'); console.error('careful'); process.exit(3)";
      const result = await herald(['run', '--channel', 'runs.cli-1', '--', process.execPath, '-e', script], { HERALD_URL: hub.url });
      assert.equal(result.code, 3);
      assert.match(result.stdout, /hello from the child/, 'output is passed through');
      assert.match(result.stderr, /careful/);
      const stored = await events(hub.url, 'runs.cli-1');
      assert.equal(stored[0].type, 'run.started');
      assert.match(stored[0].data.title, /process.exit\(3\)/);
      const logs = stored.filter((e) => e.type === 'log').map((e) => [e.severity, e.data.message]);
      assert.deepEqual(logs.sort(), [['info', 'hello from the child'], ['warning', 'careful']]);
      const completed = stored.at(-1);
      assert.equal(completed.type, 'run.completed');
      assert.equal(completed.data.status, 'failed');
      assert.equal(completed.data.summary.exitCode, 3);
      assert.equal(typeof completed.data.summary.durationMs, 'number');
      assert.equal((await getJson(`${hub.url}/api/runs/cli-1`)).json.status, 'failed');
      assert.equal((await herald(['run', '--channel', 'runs.cli-2', '--', process.execPath, '-e', '0'], { HERALD_URL: hub.url })).code, 0);
      assert.equal((await getJson(`${hub.url}/api/runs/cli-2`)).json.status, 'succeeded');
    } finally {
      await hub.kill();
    }
  });

  it('loses none of the output when the hub is down for a while mid-run', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir);
    const script = "let i = 0; const t = setInterval(() => { console.log('line ' + i++); if (i === 40) clearInterval(t); }, 50)";
    const running = herald(['run', '--channel', 'runs.outage', '--', process.execPath, '-e', script], { HERALD_URL: hub.url });
    await new Promise((r) => setTimeout(r, 500));
    await hub.kill();
    await new Promise((r) => setTimeout(r, 1000));
    hub = await spawnHub(dir, [], hub.port);
    try {
      const result = await running;
      assert.equal(result.code, 0);
      const lines = (await events(hub.url, 'runs.outage')).filter((e) => e.type === 'log').map((e) => e.data.message);
      assert.deepEqual(lines, Array.from({ length: 40 }, (_, i) => `line ${i}`));
    } finally {
      await hub.kill();
    }
  });
});

describe('herald tail', () => {
  it('prints events as they come and resumes across a hub restart without duplicates', async () => {
    const dir = dataDir();
    let hub = await spawnHub(dir);
    const child = spawn(process.execPath, [CLI, 'tail', 't.feed', '--json', '--since', '0', '--url', hub.url], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const printed = () => stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
    try {
      await herald(['publish', 't.feed', '{"type":"one"}'], { HERALD_URL: hub.url });
      await until(() => printed().length === 1, 'the first event');
      await hub.kill();
      hub = await spawnHub(dir, [], hub.port);
      await herald(['publish', 't.feed', '{"type":"two"}'], { HERALD_URL: hub.url });
      await herald(['publish', 't.feed', '{"type":"three"}'], { HERALD_URL: hub.url });
      await until(() => printed().length >= 3, 'events after the restart');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(printed().map((e) => [e.offset, e.event.type]), [[1, 'one'], [2, 'two'], [3, 'three']]);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.on('close', r));
      await hub.kill();
    }
  });
  it('--last N prints the newest N across a pattern, oldest first, then follows with no gap or duplicate', async () => {
    const hub = await spawnHub(dataDir());
    const env = { HERALD_URL: hub.url };
    for (const [channel, type] of [['l.a', 'a1'], ['l.b', 'b1'], ['l.a', 'a2'], ['l.c', 'c1'], ['other', 'o1']]) await herald(['publish', channel!, JSON.stringify({ type })], env);
    const child = spawn(process.execPath, [CLI, 'tail', 'l.*', '--json', '--last', '3', '--url', hub.url], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const printed = () => stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
    try {
      await until(() => printed().length === 3, 'the newest three');
      assert.deepEqual(printed().map((e) => `${e.channel}#${e.offset} ${e.event.type}`), ['l.b#1 b1', 'l.a#2 a2', 'l.c#1 c1']);
      await herald(['publish', 'l.b', '{"type":"b2"}'], env);
      await herald(['publish', 'l.new', '{"type":"n1"}'], env);
      await until(() => printed().length >= 5, 'live events');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(printed().slice(3).map((e) => `${e.channel}#${e.offset} ${e.event.type}`), ['l.b#2 b2', 'l.new#1 n1']);
      const refused = await herald(['tail', 'l.*', '--last', '0'], env);
      assert.equal(refused.code, 2);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.on('close', r));
      await hub.kill();
    }
  });
});
