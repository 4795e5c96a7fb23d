import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { prepareEvents, type EventStore, type RetentionPolicy } from '../src/index.js';

/**
 * The contract every history engine must keep. A new engine (Redis, …) is added by calling this with
 * its factory; passing it is what "works like the others" means.
 */
export function describeStoreConformance(engine: string, open: (retention: RetentionPolicy) => EventStore): void {
  const stores: EventStore[] = [];
  const make = (retention: Partial<RetentionPolicy> = {}) => {
    const store = open({ maxCount: 10_000, maxAgeMs: 7 * 86_400_000, ...retention });
    stores.push(store);
    return store;
  };
  const events = (...types: string[]) => prepareEvents(types.map((type) => ({ type })), 65536);
  const withIds = (...ids: string[]) => prepareEvents(ids.map((id) => ({ type: 't', id })), 65536);

  describe(`EventStore conformance: ${engine}`, () => {
    after(async () => {
      for (const store of stores) await store.close();
    });

    it('gives offsets 1, 2, 3… per channel with no gaps, independently per channel', async () => {
      const store = make();
      const a = await store.append('a', events('x', 'y'));
      const b = await store.append('b', events('x'));
      const a2 = await store.append('a', events('z'));
      assert.deepEqual(a.offsets, [1, 2]);
      assert.deepEqual(b.offsets, [1]);
      assert.deepEqual(a2.offsets, [3]);
      assert.equal(a.epoch, a2.epoch);
      const page = await store.read('a', 0, 100);
      assert.deepEqual(page.events.map((e) => [e.offset, JSON.parse(e.json).type]), [[1, 'x'], [2, 'y'], [3, 'z']]);
      assert.deepEqual(page.position, { epoch: a.epoch, latest: 3, earliest: 1 });
    });

    it('keeps offsets contiguous when many appends run concurrently', async () => {
      const store = make();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append('c', events(`e${i}`))));
      const offsets = results.map((r) => r.offsets[0]!).sort((x, y) => x - y);
      assert.deepEqual(offsets, Array.from({ length: 200 }, (_, i) => i + 1));
      // The order of the calls is the order of the offsets.
      assert.deepEqual(results.map((r) => r.offsets[0]), offsets);
    });

    it('reads after an offset, with a limit', async () => {
      const store = make();
      await store.append('r', events('1', '2', '3', '4', '5'));
      const page = await store.read('r', 2, 2);
      assert.deepEqual(page.events.map((e) => e.offset), [3, 4]);
      assert.deepEqual((await store.read('r', 5, 10)).events, []);
    });

    it('stores an idempotency id once and answers repeats with the original offset', async () => {
      const store = make();
      const first = await store.append('i', withIds('a', 'b'));
      const again = await store.append('i', withIds('b', 'c', 'c'));
      assert.deepEqual(first.offsets, [1, 2]);
      assert.deepEqual(again.offsets, [2, 3, 3]);
      assert.deepEqual(again.duplicates, [true, false, true]);
      assert.deepEqual(again.stored.map((e) => e.offset), [3]);
      assert.equal((await store.read('i', 0, 10)).events.length, 3);
      // The same id in another channel is a different event.
      assert.deepEqual((await store.append('other', withIds('a'))).offsets, [1]);
    });

    it('keeps at most maxCount events per channel, and offsets continue', async () => {
      const store = make({ maxCount: 3 });
      await store.append('k', events('1', '2', '3', '4'));
      await store.append('k', events('5'));
      const page = await store.read('k', 0, 100);
      assert.deepEqual(page.events.map((e) => e.offset), [3, 4, 5]);
      assert.deepEqual(page.position, { epoch: page.position.epoch, latest: 5, earliest: 3 });
    });

    it('drops events older than maxAgeMs on sweep', async () => {
      const store = make({ maxAgeMs: 1000 });
      await store.append('old', events('1', '2'));
      assert.equal(await store.sweep(Date.now() + 500), 0);
      assert.equal(await store.sweep(Date.now() + 5000), 2);
      const position = await store.position('old');
      assert.deepEqual([position.latest, position.earliest], [2, 3]);
    });

    it('scans every channel by receive time, a bounded page at a time, within (afterTime, untilTime]', async () => {
      const store = make();
      const before = Date.now() - 1;
      await store.append('scan.a', events('a1', 'a2'));
      await new Promise((r) => setTimeout(r, 3));
      await store.append('scan.b', events('b1'));
      await store.append('other', events('o1'));
      await new Promise((r) => setTimeout(r, 3));
      await store.append('scan.a', events('a3'));
      const until = Date.now();
      await new Promise((r) => setTimeout(r, 3));
      await store.append('scan.c', events('late'));
      const seen: Array<[string, number, string]> = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.scanByTime({ afterTime: before, untilTime: until, prefix: 'scan.', cursor, limit: 2 });
        assert.ok(page.events.length <= 2, 'a page holds at most `limit` events');
        for (const e of page.events) {
          seen.push([e.channel, e.offset, JSON.parse(e.json).type]);
          assert.equal(e.epoch, (await store.position(e.channel)).epoch);
        }
        cursor = page.next;
        pages++;
      } while (cursor !== undefined && pages < 20);
      assert.deepEqual(seen, [['scan.a', 1, 'a1'], ['scan.a', 2, 'a2'], ['scan.b', 1, 'b1'], ['scan.a', 3, 'a3']], 'time order, offsets in order, prefix and bounds kept');
      const all = await store.scanByTime({ afterTime: until, untilTime: Date.now() + 1000, cursor: undefined, limit: 100 });
      assert.deepEqual(all.events.map((e) => e.channel), ['scan.c']);
      assert.equal(all.next, undefined);
      assert.equal((await store.scanByTime({ afterTime: Date.now() + 1000, untilTime: Date.now() + 2000, limit: 10 })).events.length, 0);
      // The lower bound is exclusive to the millisecond: nothing received at `afterTime` itself.
      const a1 = (await store.read('scan.a', 0, 1)).events[0]!;
      const from = await store.scanByTime({ afterTime: a1.time, untilTime: Date.now() + 1000, prefix: 'scan.a', limit: 100 });
      assert.ok(from.events.every((e) => e.time > a1.time), 'no event of the afterTime millisecond');
      const at = await store.scanByTime({ afterTime: a1.time - 1, untilTime: a1.time, prefix: 'scan.a', limit: 100 });
      assert.deepEqual(at.events.map((e) => e.offset).slice(0, 2), [1, 2], 'one millisecond earlier finds them');
    });

    it('scans newest first, a bounded page at a time, by prefix, leaving dropped events out', async () => {
      const store = make({ maxCount: 3 });
      await store.append('new.a', events('a1', 'a2'));
      await new Promise((r) => setTimeout(r, 3));
      await store.append('new.b', events('b1'));
      await store.append('other', events('o1'));
      await new Promise((r) => setTimeout(r, 3));
      await store.append('new.a', events('a3', 'a4'));
      await store.append('new.c', events('c1'));
      await store.reset('new.c');
      const seen: Array<[string, number, string]> = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.scanNewest({ prefix: 'new.', cursor, limit: 2 });
        assert.ok(page.events.length <= 2, 'a page holds at most `limit` events');
        for (const e of page.events) {
          seen.push([e.channel, e.offset, JSON.parse(e.json).type]);
          assert.equal(e.epoch, (await store.position(e.channel)).epoch);
        }
        cursor = page.next;
        pages++;
      } while (cursor !== undefined && pages < 20);
      // a1 left with retention (3 per channel), c1 with the reset.
      assert.deepEqual(seen, [['new.a', 4, 'a4'], ['new.a', 3, 'a3'], ['new.b', 1, 'b1'], ['new.a', 2, 'a2']], 'newest first, offsets descending, prefix kept');
      const everything = await store.scanNewest({ limit: 100 });
      assert.deepEqual(everything.events.map((e) => `${e.channel}#${e.offset}`), ['new.a#4', 'new.a#3', 'other#1', 'new.b#1', 'new.a#2']);
      assert.equal(everything.next, undefined);
      assert.equal((await store.scanNewest({ prefix: 'none.', limit: 10 })).events.length, 0);
    });

    it('leaves events dropped by retention or reset out of a scan', async () => {
      const store = make({ maxCount: 2 });
      const before = Date.now() - 1;
      await store.append('gone.a', events('1', '2', '3'));
      await store.append('gone.b', events('1'));
      await store.reset('gone.b');
      const page = await store.scanByTime({ afterTime: before, untilTime: Date.now() + 1000, prefix: 'gone.', limit: 100 });
      assert.deepEqual(page.events.map((e) => [e.channel, e.offset]), [['gone.a', 2], ['gone.a', 3]]);
    });

    it('starts a new epoch and offsets from 1 on reset', async () => {
      const store = make();
      const before = await store.append('z', events('1', '2'));
      const reset = await store.reset('z');
      assert.notEqual(reset.epoch, before.epoch);
      assert.deepEqual([reset.latest, reset.earliest], [0, 1]);
      const after = await store.append('z', events('3'));
      assert.deepEqual(after.offsets, [1]);
      assert.equal(after.epoch, reset.epoch);
    });

    it('drops on reset the appends made before it, even while a commit is under way', async () => {
      const store = make();
      const first = store.append('r2', events('a'));
      await new Promise((r) => setImmediate(r)); // the first append is being committed now
      const second = store.append('r2', events('b'));
      const reset = await store.reset('r2');
      await Promise.all([first, second]);
      assert.deepEqual(await store.position('r2'), { epoch: reset.epoch, latest: 0, earliest: 1 }, 'both belonged to the old epoch');
    });

    it('gives an unknown channel a stable epoch and an empty position', async () => {
      const store = make();
      const first = await store.position('never');
      assert.deepEqual([first.latest, first.earliest], [0, 1]);
      const appended = await store.append('never', events('1'));
      assert.equal(appended.epoch, first.epoch, 'the first event must not change the epoch a subscriber was given');
    });

    // Events of a known size: {"type":"b","data":"xx…"} is 24 bytes plus the padding.
    const sized = (count: number, pad = 76) => prepareEvents(Array.from({ length: count }, () => ({ type: 'b', data: 'x'.repeat(pad) })), 65536);
    const SIZE = Buffer.byteLength(sized(1)[0]!.json);

    it('keeps at most maxChannelBytes per channel by dropping its oldest events, and offsets continue', async () => {
      const store = make({ maxChannelBytes: 3 * SIZE + 10 });
      await store.append('bytes', sized(2));
      await store.append('bytes', sized(3));
      const page = await store.read('bytes', 0, 100);
      assert.deepEqual(page.events.map((e) => e.offset), [3, 4, 5]);
      assert.deepEqual([page.position.latest, page.position.earliest], [5, 3]);
      // Other channels are not touched by this channel's cap.
      await store.append('bytes.other', sized(3));
      assert.equal((await store.read('bytes.other', 0, 100)).events.length, 3);
    });

    it('keeps a channel\'s newest event even when it alone is over maxChannelBytes', async () => {
      const store = make({ maxChannelBytes: SIZE });
      await store.append('big', sized(1));
      await store.append('big', sized(1, 500));
      const page = await store.read('big', 0, 100);
      assert.deepEqual(page.events.map((e) => e.offset), [2]);
    });

    it('refuses an append past maxTotalBytes whole, with quota_exceeded, and keeps every acknowledged event', async () => {
      const store = make({ maxTotalBytes: 4 * SIZE });
      await store.append('total.a', sized(2));
      await store.append('total.b', sized(2));
      await assert.rejects(store.append('total.c', sized(1)), (error: Error & { code?: string }) => error.code === 'quota_exceeded');
      await assert.rejects(store.append('total.a', sized(1)), (error: Error & { code?: string }) => error.code === 'quota_exceeded');
      assert.deepEqual((await store.read('total.a', 0, 100)).events.map((e) => e.offset), [1, 2], 'nothing acknowledged was dropped to make room');
      assert.equal((await store.position('total.c')).latest, 0, 'the refused channel holds nothing');
      // A reset frees its bytes; the refused append then fits, and offsets are still gap-free.
      await store.reset('total.b');
      assert.deepEqual((await store.append('total.a', sized(1))).offsets, [3]);
    });

    it('lets an append through the total cap when its own channel\'s retention makes the room', async () => {
      const store = make({ maxCount: 2, maxTotalBytes: 2 * SIZE });
      await store.append('room', sized(2));
      assert.deepEqual((await store.append('room', sized(1))).offsets, [3], 'the oldest event of the channel made room');
      await assert.rejects(store.append('room.other', sized(1)), (error: Error & { code?: string }) => error.code === 'quota_exceeded');
    });

    it('refuses one append over the total cap without failing the others committed with it', async () => {
      const store = make({ maxTotalBytes: 3 * SIZE });
      const results = await Promise.allSettled([store.append('group.a', sized(2)), store.append('group.b', sized(2)), store.append('group.c', sized(1))]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.deepEqual((await store.read('group.c', 0, 10)).events.map((e) => e.offset), [1]);
      assert.equal((await store.position('group.b')).latest, 0);
    });

    it('frees total bytes when events age out', async () => {
      const store = make({ maxAgeMs: 1000, maxTotalBytes: 2 * SIZE });
      await store.append('aging', sized(2));
      await assert.rejects(store.append('aging.next', sized(1)));
      await store.sweep(Date.now() + 5000);
      assert.deepEqual((await store.append('aging.next', sized(1))).offsets, [1]);
    });

    it('counts the events and bytes it retains over all channels, through appends, duplicates, retention, refusals and resets', async () => {
      const store = make({ maxCount: 3, maxAgeMs: 1000, maxTotalBytes: 8 * SIZE });
      const channels = ['totals.a', 'totals.b', 'totals.c'];
      const expect = async (events: number) => {
        const kept = (await Promise.all(channels.map((c) => store.read(c, 0, 100)))).flatMap((p) => p.events);
        assert.equal(kept.length, events);
        assert.deepEqual(await store.totals(), { events, bytes: kept.reduce((sum, e) => sum + Buffer.byteLength(e.json), 0) });
      };
      await expect(0);
      const once = () => prepareEvents([{ type: 'b', id: 'one' }], 65536);
      await store.append('totals.a', sized(2));
      await store.append('totals.b', once());
      await store.append('totals.b', once()); // a duplicate stores nothing
      await expect(3);
      await store.append('totals.a', sized(3)); // maxCount 3: a's two oldest go
      await expect(4);
      await store.append('totals.c', sized(3));
      await assert.rejects(store.append('totals.b', sized(2)), { code: 'quota_exceeded' }); // over maxTotalBytes: refused whole
      await expect(7);
      await store.reset('totals.c');
      await expect(4);
      await store.sweep(Date.now() + 5000);
      await expect(0);
      await store.append('totals.c', sized(1));
      await expect(1);
    });

    it('lists channels a page at a time in name order, by prefix, leaving reset-to-empty ones out', async () => {
      const store = make();
      for (const name of ['list.c', 'list.a', 'list.b.x', 'list.b', 'listing', 'list.d']) await store.append(name, events('1'));
      await store.append('list.a', events('2'));
      await store.reset('list.d');
      const first = await store.listChannels({ prefix: 'list.', limit: 2 });
      assert.deepEqual(first.map((c) => [c.name, c.latest]), [['list.a', 2], ['list.b', 1]]);
      assert.ok(first[0]!.lastTime! > 0);
      const second = await store.listChannels({ prefix: 'list.', after: 'list.b', limit: 10 });
      assert.deepEqual(second.map((c) => c.name), ['list.b.x', 'list.c']);
      assert.deepEqual((await store.listChannels({ prefix: 'list.', after: 'list.c', limit: 10 })).map((c) => c.name), []);
      const everything = await store.listChannels({ limit: 1000 });
      assert.deepEqual(everything.map((c) => c.name), [...everything.map((c) => c.name)].sort(), 'name order');
      assert.equal(await store.channelCount(), everything.length);
    });
  });
}
