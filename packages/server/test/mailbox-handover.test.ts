import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Principal } from '../src/access/principal.js';
import { DEFAULT_DIRECT_LIMITS, DirectMailbox, ownerOf, type DirectRecipient } from '../src/direct/mailbox.js';
import type { AppendInput } from '../src/store/types.js';

/**
 * The mailbox's side of moving hubs (cluster/direct-relay.ts): a held connection, mail handed over from
 * the hub the id was on, and the box given up to another hub. End to end in direct-cluster.test.ts; here
 * the orderings a round trip between hubs makes hard to force.
 */
const alice: Principal = { kind: 'key', name: 'alice', grant: { subscribe: [], publish: [], admin: false } };
const mallory: Principal = { ...alice, name: 'mallory' };

class Recipient implements DirectRecipient {
  readonly written: number[] = [];
  isOpen = true;
  closedWith: number | undefined;
  constructor(
    readonly clientId: string,
    readonly principal: Principal = alice,
  ) {}
  send(message: { event: { data: { n: number } } }): void {
    this.written.push(message.event.data.n);
  }
  close(code: number): void {
    this.closedWith = code;
    this.isOpen = false;
  }
}

const event = (n: number): AppendInput => {
  const e = { type: 'm', severity: 'info', data: { n } } as AppendInput['event'];
  return { event: e, json: JSON.stringify(e) } as AppendInput;
};
const body = (n: number) => ({ op: 'direct' as const, from: {}, time: 1, event: event(n).event });

describe('DirectMailbox across hubs', () => {
  it('a held connection writes nothing until released: then the handed-over mail, then what came meanwhile, each once', () => {
    const box = new DirectMailbox(DEFAULT_DIRECT_LIMITS);
    const r = new Recipient('c-1');
    box.connected(r, true);
    assert.equal(box.deliver('c-1', {}, event(3)), 'delivered', 'a live connection: delivered, written after the hold');
    assert.deepEqual(r.written, []);
    box.release(r, [body(1), body(2)]);
    assert.deepEqual(r.written, [1, 2, 3]);
    assert.equal(box.deliver('c-1', {}, event(4)), 'delivered');
    assert.deepEqual(r.written, [1, 2, 3, 4]);
    assert.deepEqual(box.queued, { messages: 0, bytes: 0 });
  });

  it('a connection that closes while held keeps it all, in order, for the next one', () => {
    const box = new DirectMailbox(DEFAULT_DIRECT_LIMITS);
    const first = new Recipient('c-2');
    box.connected(first, true);
    box.deliver('c-2', {}, event(2));
    first.isOpen = false;
    box.disconnected(first);
    assert.equal(box.deliver('c-2', {}, event(3)), 'queued');
    box.release(first, [body(1)]);
    assert.deepEqual(first.written, []);
    const next = new Recipient('c-2');
    box.connected(next);
    assert.deepEqual(next.written, [1, 2, 3]);
  });

  it('handOver gives the box up once: its mail and live connection go, and a second hand-over finds nothing', () => {
    const box = new DirectMailbox(DEFAULT_DIRECT_LIMITS);
    const r = new Recipient('c-3');
    box.connected(r);
    box.disconnected(r);
    box.deliver('c-3', {}, event(1));
    box.deliver('c-3', {}, event(2));
    assert.deepEqual(box.handOver('c-3', ownerOf(mallory)).mail, [], "another credential's claim takes nothing");
    const given = box.handOver('c-3', ownerOf(alice));
    assert.deepEqual(given.mail.map((m) => (m.event.data as { n: number }).n), [1, 2]);
    assert.equal(box.holds('c-3'), false);
    assert.deepEqual(box.handOver('c-3', ownerOf(alice)).mail, [], 'never handed over twice');
    assert.deepEqual(box.queued, { messages: 0, bytes: 0 });
    assert.throws(() => box.deliver('c-3', {}, event(3)), /client id/);
  });

  it('handed-over mail counts against the limits like kept mail: past the count, the oldest go', () => {
    const box = new DirectMailbox({ ...DEFAULT_DIRECT_LIMITS, queueCount: 2 });
    const r = new Recipient('c-4');
    box.connected(r, true);
    box.deliver('c-4', {}, event(4));
    r.isOpen = false;
    box.disconnected(r);
    box.release(r, [body(1), body(2), body(3)]);
    const next = new Recipient('c-4');
    box.connected(next);
    assert.deepEqual(next.written, [3, 4]);
  });
});
