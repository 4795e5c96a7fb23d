import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawRequest, streamUntilAnswered } from './support/attachments.js';
import { Bystander } from './support/bystander.js';
import { scratchDirs, startHub, type TestHub } from './support/hub.js';

const dirs = scratchDirs('herald-multipart-');
const sha = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const CAP = 256 * 1024;

/** A form encoded by Node's own FormData (undici), as a browser's form or fetch would send it. */
async function encode(form: FormData): Promise<{ body: Buffer; contentType: string }> {
  const request = new Request('http://form.test/', { method: 'POST', body: form });
  return { body: Buffer.from(await request.arrayBuffer()), contentType: request.headers.get('content-type')! };
}
const fileForm = (bytes: Buffer | string, type: string, name = 'shot.png', fields: Record<string, string> = {}) => {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append('file', new Blob([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)], { type }), name);
  return form;
};

describe('attachments: multipart/form-data uploads', () => {
  let hub: TestHub;
  const url = () => `${hub.url}/api/channels/runs.forms/attachments`;
  const filesOf = (channel: string) => {
    const dir = join(hub.dataDir, 'attachments', channel);
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  before(async () => {
    hub = await startHub({ store: 'sqlite', dataDir: dirs(), maxAttachmentBytes: CAP });
  });
  after(() => hub.dispose());

  it('stores the file part with its own type and name, ignoring the text fields around it', async () => {
    const png = randomBytes(100_000);
    const { body, contentType } = await encode(fileForm(png, 'image/png', 'login page.png', { note: 'before the file' }));
    const answer = await rawRequest('POST', url(), body, { 'content-type': contentType });
    assert.equal(answer.status, 201, answer.body.toString());
    assert.deepEqual(answer.json(), { id: sha(png), url: `/api/channels/runs.forms/attachments/${sha(png)}`, size: png.length, contentType: 'image/png', sha256: sha(png), name: 'login page.png' });
    const got = await rawRequest('GET', hub.url + answer.json().url);
    assert.equal(got.headers['content-type'], 'image/png');
    assert.ok(got.body.equals(png), 'the same bytes, without the form around them');
  });

  it('refuses a file part whose type is not allowed with 415, and a form without a file or a broken body with 400, storing nothing', async () => {
    const exe = await encode(fileForm('MZ...', 'application/x-msdownload', 'setup.exe'));
    const refused = await rawRequest('POST', `${hub.url}/api/channels/runs.refused/attachments`, exe.body, { 'content-type': exe.contentType });
    assert.equal(refused.status, 415, refused.body.toString());
    assert.equal(refused.json().error.code, 'attachment_type_not_allowed');
    assert.match(refused.json().error.message, /file part's own Content-Type/);

    const fieldsOnly = new FormData();
    fieldsOnly.append('note', 'no file here');
    const empty = await encode(fieldsOnly);
    const noFile = await rawRequest('POST', `${hub.url}/api/channels/runs.refused/attachments`, empty.body, { 'content-type': empty.contentType });
    assert.equal(noFile.status, 400, noFile.body.toString());
    assert.match(noFile.json().error.message, /no file part/);

    const broken = await rawRequest('POST', `${hub.url}/api/channels/runs.refused/attachments`, 'not a multipart body at all', { 'content-type': 'multipart/form-data' });
    assert.equal(broken.status, 400, broken.body.toString());
    assert.equal(broken.json().error.code, 'bad_request');
    assert.deepEqual(filesOf('runs.refused'), []);
  });

  it('refuses a file part over the cap with 413, from the Content-Length and while streaming, leaving no file behind', async () => {
    const big = await encode(fileForm(randomBytes(CAP + 1), 'image/png'));
    const declared = await rawRequest('POST', `${hub.url}/api/channels/runs.huge/attachments`, big.body, { 'content-type': big.contentType });
    assert.equal(declared.status, 413, declared.body.toString());
    assert.equal(declared.json().error.code, 'attachment_too_large');

    // Within the form's allowance for boundaries and fields, so only the file's own cap can refuse it.
    const justOver = await encode(fileForm(randomBytes(CAP + 10), 'image/png'));
    assert.ok(justOver.body.length < CAP + 64 * 1024);
    const streamed = await rawRequest('POST', `${hub.url}/api/channels/runs.huge/attachments`, justOver.body, { 'content-type': justOver.contentType });
    assert.equal(streamed.status, 413, streamed.body.toString());
    assert.deepEqual(filesOf('runs.huge'), []);
    assert.deepEqual(readdirSync(join(hub.dataDir, 'attachments', '.incoming')), [], 'no half-written file is left behind');
  });

  it('stops reading a chunked form of endless small fields soon after the cap, and a bystander is served throughout', async () => {
    const bystander = await Bystander.start(hub.url);
    await bystander.mark();
    const boundary = 'herald-flood';
    const field = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="f"\r\n\r\n${'x'.repeat(1000)}\r\n`);
    const { sent, ...answer } = await streamUntilAnswered(url(), { 'content-type': `multipart/form-data; boundary=${boundary}` }, Buffer.concat(Array.from({ length: 64 }, () => field)), 100 * 1024 * 1024);
    assert.equal(answer.status, 413, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, 'attachment_too_large');
    assert.ok(sent < 16 * 1024 * 1024, `the hub stopped taking bytes soon after the cap (the client had sent ${sent} bytes)`);
    await bystander.mark();
    await bystander.verify();
  });
});
