import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileAttachmentStore, memoryAttachmentStore } from '../src/attachments/store.js';
import { describeAttachmentStoreConformance } from './attachment-store-conformance.js';
import { upload, rawRequest } from './support/attachments.js';
import { scratchDirs, startHub, type TestHub } from './support/hub.js';
import { redisAnswers, scratchPrefixes, SHARED_REDIS_URL } from './support/redis.js';

const dirs = scratchDirs('herald-attach-store-');

describeAttachmentStoreConformance('files', (limits) => fileAttachmentStore(dirs(), limits, 'normal'));
describeAttachmentStoreConformance('memory', (limits) => memoryAttachmentStore(limits));

describe('FileAttachmentStore', () => {
  it('keeps what it holds across a restart (the index is on disk)', async () => {
    const dir = dirs();
    const limits = { maxBytes: 1024, maxTotalBytes: 0, maxCount: 10, unreferencedGraceMs: 60_000 };
    const first = fileAttachmentStore(dir, limits, 'full');
    const record = await first.put('runs.a', { contentType: 'text/plain', body: Readable.from([Buffer.from('kept')]) });
    await first.close();
    const second = fileAttachmentStore(dir, limits, 'full');
    assert.deepEqual(second.totals(), { count: 1, bytes: 4 });
    assert.equal((await second.open('runs.a', record.id))!.record.contentType, 'text/plain');
    assert.deepEqual(readdirSync(join(dir, 'attachments', 'runs.a')), [record.id]);
    await second.close();
    assert.equal(existsSync(join(dir, 'attachments', '.incoming')), true);
  });
});

const redis = await redisAnswers(SHARED_REDIS_URL);
// The hub's keys are deleted when the file's tests end (SCAN over the prefix, never FLUSH).
const prefixes = scratchPrefixes();
describe('attachments on a hub on Redis', () => {
  let hub: TestHub;
  before(async () => {
    if (redis) hub = await startHub({ store: 'redis', redisUrl: SHARED_REDIS_URL, redisPrefix: prefixes() });
  });
  after(() => hub?.dispose());

  it('answers 501 not_supported to uploads and reads, and still checks references in events', { skip: redis ? false : 'no Redis at 127.0.0.1:6379' }, async () => {
    const answer = await upload(hub.url, 'runs.r', 'x', 'text/plain');
    assert.equal(answer.status, 501);
    assert.equal(answer.json().error.code, 'not_supported');
    assert.equal((await rawRequest('GET', `${hub.url}/api/channels/runs.r/attachments/${'a'.repeat(64)}`)).status, 501);
    const bad = await rawRequest('POST', `${hub.url}/api/channels/runs.r/events`, JSON.stringify({ type: 'log', data: { attachments: {} } }), { 'content-type': 'application/json' });
    assert.equal(bad.status, 400);
  });
});
