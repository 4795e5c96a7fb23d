import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { AttachmentLimits, AttachmentStore, RetainedRange } from '../src/attachments/types.js';

/**
 * The contract every attachment engine keeps (files, memory; a shared one later): content-addressed,
 * capped while reading, and retention that follows the referencing events. Call it with a factory.
 */
export function describeAttachmentStoreConformance(engine: string, open: (limits: AttachmentLimits) => AttachmentStore): void {
  const stores: AttachmentStore[] = [];
  const make = (limits: Partial<AttachmentLimits> = {}) => {
    const store = open({ maxBytes: 1024 * 1024, maxTotalBytes: 0, maxCount: 100_000, unreferencedGraceMs: 60_000, ...limits });
    stores.push(store);
    return store;
  };
  /** A body as it arrives over a socket: in chunks. */
  const body = (bytes: Buffer, chunk = 16 * 1024) => Readable.from(Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk)));
  const read = async (store: AttachmentStore, channel: string, id: string) => {
    const found = await store.open(channel, id);
    if (!found) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of found.body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
  const range = (ranges: Record<string, RetainedRange>) => async (channel: string) => ranges[channel] ?? { epoch: 'e0', earliest: 1 };

  describe(`AttachmentStore conformance: ${engine}`, () => {
    after(async () => {
      for (const store of stores) await store.close();
    });

    it('stores bytes under their SHA-256 and gives them back, per channel', async () => {
      const store = make();
      const bytes = randomBytes(100_000);
      const record = await store.put('a', { contentType: 'image/png', body: body(bytes) });
      assert.deepEqual({ ...record, uploadedAt: 0 }, { channel: 'a', id: sha(bytes), contentType: 'image/png', size: bytes.length, uploadedAt: 0 });
      assert.ok((await read(store, 'a', record.id))!.equals(bytes));
      assert.equal(await store.open('b', record.id), undefined, 'another channel does not hold it');
      assert.deepEqual(store.totals(), { count: 1, bytes: bytes.length });
    });

    it('stores the same bytes once, renewing the type', async () => {
      const store = make();
      const bytes = randomBytes(1000);
      await store.put('a', { contentType: 'application/octet-stream', body: body(bytes) });
      const again = await store.put('a', { contentType: 'image/png', body: body(bytes) });
      assert.equal((await store.open('a', again.id))!.record.contentType, 'image/png');
      assert.deepEqual(store.totals(), { count: 1, bytes: 1000 });
    });

    it('refuses a body over the cap having read no further than the chunk that passed it', async () => {
      const store = make({ maxBytes: 64 * 1024 });
      let pulled = 0;
      async function* endless() {
        for (;;) {
          pulled++;
          yield randomBytes(16 * 1024);
        }
      }
      await assert.rejects(store.put('a', { contentType: 'image/png', body: endless() }), { code: 'attachment_too_large' });
      assert.equal(pulled, 5, 'four chunks fit, the fifth passed the cap');
      assert.deepEqual(store.totals(), { count: 0, bytes: 0 });
    });

    it('refuses what would pass the total, and takes uploads again once room is made', async () => {
      const store = make({ maxBytes: 1000, maxTotalBytes: 1500 });
      await store.put('a', { contentType: 'text/plain', body: body(randomBytes(1000)) });
      await assert.rejects(store.put('a', { contentType: 'text/plain', body: body(randomBytes(1000)) }), { code: 'quota_exceeded' });
      assert.equal(await store.dropChannel('a'), 1);
      await store.put('b', { contentType: 'text/plain', body: body(randomBytes(1000)) });
      assert.deepEqual(store.totals(), { count: 1, bytes: 1000 });
    });

    it('deletes a channel\'s attachments when it is dropped, and only those', async () => {
      const store = make();
      const a = await store.put('a', { contentType: 'text/plain', body: body(randomBytes(10)) });
      const b = await store.put('b', { contentType: 'text/plain', body: body(randomBytes(10)) });
      assert.equal(await store.dropChannel('a'), 1);
      assert.equal(await store.open('a', a.id), undefined);
      assert.ok(await store.open('b', b.id));
    });

    it('sweeps what no retained event references: trimmed, another epoch, or never referenced past the grace', async () => {
      const store = make({ unreferencedGraceMs: 60_000 });
      const put = (channel: string) => store.put(channel, { contentType: 'image/png', body: body(randomBytes(10)) });
      const kept = await put('a');
      const trimmed = await put('a');
      const oldEpoch = await put('b');
      const young = await put('c');
      store.referenced('a', [{ id: kept.id, epoch: 'e1', offset: 10 }, { id: trimmed.id, epoch: 'e1', offset: 3 }]);
      // A later event references the trimmed one's neighbour again: the newest reference counts.
      store.referenced('a', [{ id: kept.id, epoch: 'e1', offset: 4 }]);
      store.referenced('b', [{ id: oldEpoch.id, epoch: 'e1', offset: 1 }]);
      const ranges = range({ a: { epoch: 'e1', earliest: 5 }, b: { epoch: 'e2', earliest: 1 } });
      assert.equal(await store.sweep(ranges, Date.now(), 1000), 2);
      assert.ok(await store.open('a', kept.id), 'its event at offset 10 is retained');
      assert.equal(await store.open('a', trimmed.id), undefined);
      assert.equal(await store.open('b', oldEpoch.id), undefined);
      assert.ok(await store.open('c', young.id), 'unreferenced, but within the grace');
      assert.equal(await store.sweep(ranges, Date.now() + 120_000, 1000), 1, 'past the grace it goes');
      assert.equal(await store.open('c', young.id), undefined);
    });

    it('looks at no more than `limit` attachments per sweep, and at every one in turn', async () => {
      const store = make({ unreferencedGraceMs: 0 });
      for (let i = 0; i < 5; i++) await store.put(`ch${i}`, { contentType: 'text/plain', body: body(randomBytes(10)) });
      const later = Date.now() + 1000;
      assert.equal(await store.sweep(range({}), later, 2), 2);
      assert.equal(await store.sweep(range({}), later, 2), 2);
      assert.equal(await store.sweep(range({}), later, 2), 1);
      assert.deepEqual(store.totals(), { count: 0, bytes: 0 });
    });
  });
}
