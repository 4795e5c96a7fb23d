import { Defaults, type SenderInfo } from '@herald/protocol';
import type { Principal } from '../access/principal.js';
import { HeraldError } from '../errors.js';
import type { AppendInput } from '../store/types.js';

/** A connection that direct messages can be written to (a WebSocket `Connection`). */
export interface DirectRecipient {
  readonly clientId: string;
  readonly principal: Principal;
  readonly isOpen: boolean;
  send(message: object): void;
}

/**
 * How long and how much mail is kept for a client id that is away: `queueMs` after its connection
 * closed, at most `queueCount` messages per client id and `queueBytes` of events over all of them
 * (the oldest go first). Any of them 0: nothing is kept (a send to an away client is `unknown_client`).
 */
export interface DirectLimits {
  queueMs: number;
  queueCount: number;
  queueBytes: number;
  /**
   * Away client ids held at once (with mail or not): a client that opens and closes connections with
   * new ids as fast as it can leaves a box per id for `queueMs`; past this the longest away go first.
   */
  maxAway: number;
}
/** About 200 bytes each when empty: 100 000 is ~20 MB at worst, far above real reconnect storms. */
export const MAX_AWAY_CLIENTS = 100_000;
export const DEFAULT_DIRECT_LIMITS: DirectLimits = { queueMs: Defaults.directQueueMs, queueCount: Defaults.directQueueCount, queueBytes: Defaults.directQueueTotalBytes, maxAway: MAX_AWAY_CLIENTS };

export type DirectStatus = 'delivered' | 'queued';

/** One message kept for an away client id; `box` is cleared once it is delivered or dropped. */
interface Queued {
  box: Mailbox | undefined;
  readonly message: DirectMessageBody;
  readonly bytes: number;
}

/** What a `direct` message carries, ready to be written. */
interface DirectMessageBody {
  op: 'direct';
  from: SenderInfo;
  time: number;
  event: AppendInput['event'];
}

/**
 * The mail of one client id. It belongs to the credential of the connection that first held the id
 * (`owner`): only a connection of that credential receives it, live or after a reconnect, so nobody
 * reads another's mail by connecting with its client id.
 */
interface Mailbox {
  readonly clientId: string;
  readonly owner: string;
  live: DirectRecipient | undefined;
  /** When `live` went away (ms); the box is dropped `queueMs` later. */
  awayAt: number;
  readonly queue: Queued[];
}

/** Past this many delivered or dropped entries in the age order (and more than live ones), it is compacted. */
const COMPACT_AFTER = 1024;

/**
 * Direct messages to one client id, for one hub: delivered to its live connection, or kept a bounded
 * time and amount while it is away and delivered once, in order, when it connects again. Memory is
 * bounded by the limits (count per id, bytes over all, boxes freed `queueMs` after their client left);
 * one timer, for the earliest expiry, frees the boxes of clients that never come back.
 */
export class DirectMailbox {
  private readonly boxes = new Map<string, Mailbox>();
  /** Boxes whose client is away, in the order they went away (so: in order of expiry). */
  private readonly away = new Map<string, Mailbox>();
  /** Every kept message, oldest first (delivered or dropped ones linger until compacted). */
  private order: Queued[] = [];
  private head = 0;
  private dead = 0;
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private limits: DirectLimits = DEFAULT_DIRECT_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  configure(limits: DirectLimits): void {
    this.limits = limits;
  }

  private get keeping(): boolean {
    const { queueMs, queueCount, queueBytes } = this.limits;
    return queueMs > 0 && queueCount > 0 && queueBytes > 0;
  }

  /** Client ids the mailbox knows (live or away with a box); for tests and stats. */
  get size(): number {
    return this.boxes.size;
  }

  /** Messages kept for away clients, and their bytes. */
  get queued(): { messages: number; bytes: number } {
    return { messages: this.order.length - this.head - this.dead, bytes: this.bytes };
  }

  /** Whether the mailbox holds `clientId` as away (its connection closed, the window still open). */
  isAway(clientId: string): boolean {
    return this.away.has(clientId);
  }

  /** A connection was greeted: it becomes the client id's recipient (if its credential owns the id) and gets the kept mail. */
  connected(recipient: DirectRecipient): void {
    const owner = ownerOf(recipient.principal);
    let box = this.boxes.get(recipient.clientId);
    if (box && !box.live && this.expired(box, this.clock())) {
      this.drop(box);
      box = undefined;
    }
    if (!box) {
      this.boxes.set(recipient.clientId, { clientId: recipient.clientId, owner, live: recipient, awayAt: 0, queue: [] });
      return;
    }
    // Another credential's id (live or its mail held): this connection is not addressable by it.
    if (box.owner !== owner) return;
    box.live = recipient;
    this.away.delete(box.clientId);
    this.flush(box, recipient);
  }

  /** A connection closed: its client id's mail is kept for `queueMs` from now. */
  disconnected(recipient: DirectRecipient): void {
    const box = this.boxes.get(recipient.clientId);
    if (!box || box.live !== recipient) return;
    box.live = undefined;
    if (!this.keeping) return this.drop(box);
    box.awayAt = this.clock();
    this.away.delete(box.clientId);
    this.away.set(box.clientId, box);
    if (this.away.size > this.limits.maxAway) this.drop(this.away.values().next().value as Mailbox);
    this.scheduleSweep();
  }

  /**
   * Writes `event` to the client id's connection, or keeps it while the client is away. Throws
   * `unknown_client` when the id has neither a connection nor a box.
   */
  deliver(to: string, from: SenderInfo, input: AppendInput): DirectStatus {
    let box = this.boxes.get(to);
    if (box && !box.live && this.expired(box, this.clock())) {
      this.drop(box);
      box = undefined;
    }
    if (!box) throw new HeraldError('unknown_client', `no connection has the client id "${to}", and none had it in the last ${this.limits.queueMs} ms`);
    const message: DirectMessageBody = { op: 'direct', from, time: this.clock(), event: input.event };
    const live = box.live;
    if (live) {
      live.send(message);
      // A connection closed while this was written (a slow consumer) left its box away: keep it there.
      if (box.live === live && live.isOpen) return 'delivered';
      if (this.boxes.get(to) !== box) throw new HeraldError('unknown_client', `the connection of client id "${to}" closed`);
    }
    this.keep(box, { box, message, bytes: Buffer.byteLength(input.json) });
    return 'queued';
  }

  /** Ends the sweep timer (the hub is closing). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The kept mail, oldest first, as long as the connection takes it (one closed as slow keeps the rest). */
  private flush(box: Mailbox, recipient: DirectRecipient): void {
    while (box.queue.length > 0) {
      const next = box.queue[0]!;
      recipient.send(next.message);
      if (box.live !== recipient || !recipient.isOpen) return;
      box.queue.shift();
      this.forget(next);
    }
  }

  private keep(box: Mailbox, queued: Queued): void {
    box.queue.push(queued);
    this.order.push(queued);
    this.bytes += queued.bytes;
    if (box.queue.length > this.limits.queueCount) this.forget(box.queue.shift()!);
    while (this.bytes > this.limits.queueBytes) {
      const oldest = this.order[this.head++]!;
      if (!oldest.box) {
        this.dead--;
        continue;
      }
      // The oldest of all is the oldest of its box.
      oldest.box.queue.shift();
      oldest.box = undefined;
      this.bytes -= oldest.bytes;
    }
    this.compact();
  }

  /** A kept message was delivered or dropped. */
  private forget(queued: Queued): void {
    if (!queued.box) return;
    queued.box = undefined;
    this.bytes -= queued.bytes;
    this.dead++;
    this.compact();
  }

  private compact(): void {
    const live = this.order.length - this.head - this.dead;
    if (this.head + this.dead < COMPACT_AFTER || this.head + this.dead < live) return;
    this.order = this.order.slice(this.head).filter((q) => q.box !== undefined);
    this.head = 0;
    this.dead = 0;
  }

  private drop(box: Mailbox): void {
    for (const queued of box.queue) this.forget(queued);
    box.queue.length = 0;
    this.boxes.delete(box.clientId);
    this.away.delete(box.clientId);
  }

  private expired(box: Mailbox, now: number): boolean {
    return now - box.awayAt >= this.limits.queueMs;
  }

  /** One timer for the earliest expiry; boxes go away in the order they were left. */
  private scheduleSweep(): void {
    if (this.timer) return;
    const first = this.away.values().next().value as Mailbox | undefined;
    if (!first) return;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, first.awayAt + this.limits.queueMs - this.clock()));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.clock();
    for (const box of this.away.values()) {
      if (!this.expired(box, now)) break;
      this.drop(box);
    }
    this.scheduleSweep();
  }
}

/** Mail belongs to a credential: its kind and name (an API key and a token subject of one name are two). */
function ownerOf(who: Principal): string {
  return `${who.kind}:${who.name}`;
}
