import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeyStore } from '../src/index.js';
import { rawRequest, streamUntilAnswered, upload } from './support/attachments.js';
import { Bystander } from './support/bystander.js';
import { bearer, postEvents, request, scratchDirs, startHub, type TestHub } from './support/hub.js';

const dirs = scratchDirs('herald-attach-');
const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const filesOf = (hub: TestHub, channel: string) => {
  const dir = join(hub.dataDir, 'attachments', channel);
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('attachments: upload and read back', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ store: 'sqlite', dataDir: dirs(), maxAttachmentBytes: 1024 * 1024, retentionCount: 3 });
  });
  after(() => hub.dispose());

  it('stores a file under the SHA-256 of its bytes and serves it back with the headers that keep it inert', async () => {
    const png = randomBytes(50_000);
    const answer = await upload(hub.url, 'runs.shots', png, 'image/png');
    assert.equal(answer.status, 201, answer.body.toString());
    const info = answer.json();
    assert.deepEqual(info, { id: sha(png), url: `/api/channels/runs.shots/attachments/${sha(png)}`, size: png.length, contentType: 'image/png', sha256: sha(png) });
    assert.deepEqual(filesOf(hub, 'runs.shots'), [sha(png)], 'one file in the data folder, named by its hash');

    const got = await rawRequest('GET', hub.url + info.url);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(png), 'the same bytes');
    assert.equal(got.headers['content-type'], 'image/png');
    assert.equal(got.headers['content-disposition'], 'inline');
    assert.equal(got.headers['x-content-type-options'], 'nosniff');
    assert.equal(got.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    assert.equal(got.headers['cross-origin-resource-policy'], 'same-origin');
    assert.equal(got.headers['content-length'], String(png.length));
    assert.equal(got.headers.etag, `"${sha(png)}"`);
    assert.equal((await rawRequest('GET', hub.url + info.url, undefined, { 'if-none-match': `"${sha(png)}"` })).status, 304);
  });

  it('serves everything but raster images as a download, HTML and SVG included, with the name asked for', async () => {
    for (const [type, body] of [['text/html', '<script>document.title="pwned"</script>'], ['image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'], ['application/json', '{"a":1}']] as const) {
      const info = (await upload(hub.url, 'runs.files', body, type)).json();
      const got = await rawRequest('GET', `${hub.url}${info.url}?name=${encodeURIComponent('report "1".html')}`);
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], type);
      assert.equal(got.headers['content-disposition'], `attachment; filename="report _1_.html"; filename*=UTF-8''report%20%221%22.html`, type);
      assert.equal(got.headers['x-content-type-options'], 'nosniff');
      assert.match(String(got.headers['content-security-policy']), /sandbox/);
    }
  });

  it('keeps the charset of text and drops every other parameter of the type', async () => {
    const info = (await upload(hub.url, 'runs.files', 'héllo', 'Text/Plain; charset=UTF-8; evil="x"')).json();
    assert.equal(info.contentType, 'text/plain; charset=utf-8');
    assert.equal((await rawRequest('GET', hub.url + info.url)).headers['content-type'], 'text/plain; charset=utf-8');
  });

  it('stores the same bytes once per channel, and a second upload answers the same id', async () => {
    const bytes = randomBytes(1000);
    const first = (await upload(hub.url, 'runs.twice', bytes, 'application/octet-stream')).json();
    const second = (await upload(hub.url, 'runs.twice', bytes, 'application/octet-stream')).json();
    assert.equal(first.id, second.id);
    assert.deepEqual(filesOf(hub, 'runs.twice'), [first.id]);
  });

  it('refuses a type that is not on the allow-list, and an upload without a type, with 415', async () => {
    for (const type of ['application/x-msdownload', 'text/javascript', undefined]) {
      const answer = await upload(hub.url, 'runs.files', 'MZ…', type);
      assert.equal(answer.status, 415, String(type));
      assert.equal(answer.json().error.code, 'attachment_type_not_allowed');
    }
  });

  it('answers 404 for an unknown id, a malformed one, and another channel\'s attachment', async () => {
    const info = (await upload(hub.url, 'runs.mine', 'x', 'text/plain')).json();
    assert.equal((await rawRequest('GET', `${hub.url}/api/channels/runs.mine/attachments/${'0'.repeat(64)}`)).status, 404);
    assert.equal((await rawRequest('GET', `${hub.url}/api/channels/runs.mine/attachments/..%2F..%2Fherald.db`)).status, 404);
    assert.equal((await rawRequest('GET', `${hub.url}/api/channels/runs.other/attachments/${info.id}`)).status, 404);
  });

  it('refuses an upload over the cap with 413 attachment_too_large, from its Content-Length, storing nothing', async () => {
    const answer = await upload(hub.url, 'runs.big', randomBytes(1024 * 1024 + 1), 'image/png');
    assert.equal(answer.status, 413);
    assert.equal(answer.json().error.code, 'attachment_too_large');
    assert.deepEqual(filesOf(hub, 'runs.big'), []);
    assert.deepEqual(readdirSync(join(hub.dataDir, 'attachments', '.incoming')), [], 'no half-written file is left behind');
  });

  it('stops reading a chunked upload at the cap: a client streaming 200 MiB is answered 413 having sent a bounded part, and a bystander is served throughout', async () => {
    const bystander = await Bystander.start(hub.url);
    await bystander.mark();
    const { sent, ...answer } = await streamUntilAnswered(`${hub.url}/api/channels/runs.big/attachments`, { 'content-type': 'video/mp4' }, randomBytes(64 * 1024), 200 * 1024 * 1024);
    assert.equal(answer.status, 413, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, 'attachment_too_large');
    assert.ok(sent < 32 * 1024 * 1024, `the hub stopped taking bytes soon after the cap (the client had sent ${sent} bytes)`);
    assert.deepEqual(filesOf(hub, 'runs.big'), []);
    await bystander.mark();
    await bystander.verify();
  });

  it('refuses events whose data.attachments is malformed, and takes well-formed references', async () => {
    const bad = await postEvents(hub.url, 'runs.refs', [{ type: 'log', data: { message: 'ok' } }, { type: 'log', data: { message: 'x', attachments: [{ id: 'nope', name: 'a.png' }] } }]);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_event');
    assert.match(bad.json.error.message, /^event 1: data\.attachments\[0\]\.id/);
    assert.equal((await postEvents(hub.url, 'runs.refs', { type: 'log', data: { attachments: 'a.png' } })).status, 400);
    const good = await postEvents(hub.url, 'runs.refs', { type: 'log', data: { message: 'shot', attachments: [{ id: sha('x'), name: 'a.png', contentType: 'image/png', size: 1 }] } });
    assert.equal(good.status, 201);
  });
});

describe('attachments: retention follows the channel\'s events', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ store: 'sqlite', dataDir: dirs(), retentionCount: 2 });
  });
  after(() => hub.dispose());

  it('deletes a channel\'s attachments from disk when the channel is reset', async () => {
    const a = (await upload(hub.url, 'runs.reset-me', randomBytes(100), 'image/png')).json();
    const b = (await upload(hub.url, 'runs.reset-me', randomBytes(100), 'text/plain')).json();
    await postEvents(hub.url, 'runs.reset-me', { type: 'log', data: { message: 'shots', attachments: [{ id: a.id, name: 'a.png' }, { id: b.id, name: 'b.txt' }] } });
    const kept = (await upload(hub.url, 'runs.keep-me', randomBytes(100), 'image/png')).json();
    assert.equal(filesOf(hub, 'runs.reset-me').length, 2);
    assert.equal((await request('DELETE', `${hub.url}/api/channels/runs.reset-me`)).status, 200);
    assert.equal(existsSync(join(hub.dataDir, 'attachments', 'runs.reset-me')), false, 'the folder is gone when DELETE answers');
    assert.equal((await rawRequest('GET', hub.url + a.url)).status, 404);
    assert.equal((await rawRequest('GET', hub.url + kept.url)).status, 200, 'other channels keep theirs');
  });

  it('deletes an attachment once the last event that references it is trimmed, and keeps a new upload no event references yet', async () => {
    const shot = (await upload(hub.url, 'runs.trim', randomBytes(100), 'image/png')).json();
    const again = (await upload(hub.url, 'runs.trim', randomBytes(100), 'image/png')).json();
    await postEvents(hub.url, 'runs.trim', { type: 'log', data: { message: 'old', attachments: [{ id: shot.id, name: 'a.png' }] } });
    await postEvents(hub.url, 'runs.trim', { type: 'log', data: { message: 'newer', attachments: [{ id: again.id, name: 'b.png' }] } });
    const fresh = (await upload(hub.url, 'runs.trim', randomBytes(100), 'image/png')).json();
    await hub.sweep();
    assert.equal((await rawRequest('GET', hub.url + shot.url)).status, 200, 'its event is still retained');
    // Retention keeps 2 events: the first reference is dropped, the second stays.
    await postEvents(hub.url, 'runs.trim', { type: 'log', data: { message: 'later' } });
    await hub.sweep();
    assert.equal((await rawRequest('GET', hub.url + shot.url)).status, 404, 'no retained event references it');
    assert.ok(!filesOf(hub, 'runs.trim').includes(shot.id), 'and its file is gone');
    assert.equal((await rawRequest('GET', hub.url + again.url)).status, 200, 'a retained event references this one');
    assert.equal((await rawRequest('GET', hub.url + fresh.url)).status, 200, 'an upload is kept for an hour before any event references it');
  });
});

describe('attachments: retention by age', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub({ store: 'sqlite', dataDir: dirs(), retentionAgeMs: 1000 });
  });
  after(() => hub.dispose());

  it('deletes the files of a channel whose events all expired, from disk, at the next sweep', async () => {
    const shot = (await upload(hub.url, 'runs.expire', randomBytes(100), 'image/png')).json();
    const log = (await upload(hub.url, 'runs.expire', randomBytes(100), 'text/plain')).json();
    const published = await postEvents(hub.url, 'runs.expire', [{ type: 'log', data: { message: 'shot', attachments: [{ id: shot.id, name: 'a.png' }] } }, { type: 'log', data: { message: 'log', attachments: [{ id: log.id, name: 'out.txt' }] } }]);
    assert.deepEqual(published.json.offsets, [1, 2]);
    await hub.sweep();
    assert.equal(filesOf(hub, 'runs.expire').length, 2, 'young events keep their files');
    // Past --retention-age the events go at the sweep, and their files with them.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await hub.sweep();
    const events = await fetch(`${hub.url}/api/channels/runs.expire/events`).then((r) => r.json());
    assert.deepEqual(events.events, [], 'the events expired');
    assert.deepEqual(filesOf(hub, 'runs.expire'), [], 'and no file is left on disk');
    assert.equal((await rawRequest('GET', hub.url + shot.url)).status, 404);
  });
});

describe('attachments: who may upload and read', () => {
  let hub: TestHub;
  let reader: string;
  let writer: string;
  let other: string;
  before(async () => {
    const dataDir = dirs();
    const keys = new KeyStore(dataDir, true);
    reader = (await keys.create('reader', { subscribe: ['runs.team-a.>'], publish: [], admin: false })).key;
    writer = (await keys.create('writer', { subscribe: [], publish: ['runs.team-a.>'], admin: false })).key;
    other = (await keys.create('other', { subscribe: ['runs.team-b.>'], publish: ['runs.team-b.>'], admin: false })).key;
    await keys.close();
    hub = await startHub({ store: 'sqlite', dataDir });
  });
  after(() => hub.dispose());

  it('takes an upload only with the publish permission for the channel, and serves it only with subscribe', async () => {
    assert.equal((await upload(hub.url, 'runs.team-a.1', 'x', 'text/plain')).status, 401, 'no credentials');
    const refused = await upload(hub.url, 'runs.team-a.1', 'x', 'text/plain', bearer(reader));
    assert.equal(refused.status, 403, 'a key that may only subscribe cannot upload');
    assert.equal(refused.json().error.code, 'forbidden');
    const stored = await upload(hub.url, 'runs.team-a.1', 'x', 'text/plain', bearer(writer));
    assert.equal(stored.status, 201);
    const url = hub.url + stored.json().url;
    assert.equal((await rawRequest('GET', url)).status, 401);
    assert.equal((await rawRequest('GET', url, undefined, bearer(writer))).status, 403, 'publishing does not include reading');
    assert.equal((await rawRequest('GET', url, undefined, bearer(other))).status, 403, 'another team cannot read it');
    const got = await rawRequest('GET', url, undefined, bearer(reader));
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'x');
  });
});
