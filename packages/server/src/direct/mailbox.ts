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
  /** Ends the connection (a connection with its client id took over on another hub: 4006). */
  close(code: number, reason: string): void;
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

/** What a `direct` message carries, ready to be written (and what one hub hands another). */
export interface DirectMessageBody {
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
  /**
   * Across hubs: mail kept for this id on the hub it was on before is on its way here; what comes
   * meanwhile is kept behind it (not written), so that the connection gets all of it once, in order.
   */
  holding: boolean;
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

  /** Whether `clientId` has a box here (live, or away within the window): mail to it is this hub's. */
  holds(clientId: string): boolean {
    const box = this.boxes.get(clientId);
    return box !== undefined && (box.live !== undefined || !this.expired(box, this.clock()));
  }

  /**
   * A connection was greeted: it becomes the client id's recipient (if its credential owns the id) and
   * gets the kept mail. `holding`: not yet (it is not greeted, and another hub may hand over older mail
   * for it): the kept mail and what arrives meanwhile wait for `release`.
   */
  connected(recipient: DirectRecipient, holding = false): void {
    const owner = ownerOf(recipient.principal);
    let box = this.boxes.get(recipient.clientId);
    if (box && !box.live && this.expired(box, this.clock())) {
      this.drop(box);
      box = undefined;
    }
    if (!box) {
      this.boxes.set(recipient.clientId, { clientId: recipient.clientId, owner, live: recipient, holding, awayAt: 0, queue: [] });
      return;
    }
    // Another credential's id (live or its mail held): this connection is not addressable by it.
    if (box.owner !== owner) return;
    box.live = recipient;
    box.holding = holding;
    this.away.delete(box.clientId);
    if (!holding) this.flush(box, recipient);
  }

  /**
   * Ends the hold of `connected(recipient, true)`: `handedOver` (mail the hub it was on kept for it,
   * oldest first) goes before what was kept here, then all of it is written. Had the id been on another
   * hub since it was here, this hub's box would have gone there: one of the two is empty but in races.
   */
  release(recipient: DirectRecipient, handedOver: readonly DirectMessageBody[]): void {
    const box = this.boxes.get(recipient.clientId);
    if (!box || box.owner !== ownerOf(recipient.principal)) return;
    const older = handedOver.map((message): Queued => ({ box, message, bytes: Buffer.byteLength(JSON.stringify(message.event)) }));
    box.queue.unshift(...older);
    for (const queued of older) {
      this.order.push(queued);
      this.bytes += queued.bytes;
    }
    while (box.queue.length > this.limits.queueCount) this.forget(box.queue.shift()!);
    this.trimBytes();
    if (box.live !== recipient) return;
    box.holding = false;
    this.flush(box, recipient);
  }

  /** Another credential holds the id across the cluster: this connection is not addressable by it here either. */
  disown(recipient: DirectRecipient): void {
    const box = this.boxes.get(recipient.clientId);
    if (box?.live === recipient) this.drop(box);
  }

  /**
   * The client id connected to another hub with the same credential: its box leaves this hub. Returns
   * the kept mail (oldest first) and the connection that held the id here (its caller closes it with
   * 4006); nothing when the box is another credential's or there is none.
   */
  handOver(clientId: string, owner: string): { mail: DirectMessageBody[]; live: DirectRecipient | undefined } {
    const box = this.boxes.get(clientId);
    if (!box || box.owner !== owner) return { mail: [], live: undefined };
    const mail = this.expired(box, this.clock()) && !box.live ? [] : box.queue.map((q) => q.message);
    const live = box.live;
    this.drop(box);
    return { mail, live };
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
    // Held behind mail another hub is handing over (a round trip): written right after it, in order.
    // The connection is live, so it is delivered as far as the sender can tell — as a write to a socket is.
    if (box.holding && box.live?.isOpen) {
      this.keep(box, { box, message, bytes: Buffer.byteLength(input.json) });
      return 'delivered';
    }
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
    this.trimBytes();
  }

  /** Past the bytes over all ids, the oldest of any id go. */
  private trimBytes(): void {
    while (this.bytes > this.limits.queueBytes) {
      const oldest = this.order[this.head++]!;
      if (!oldest.box) {
        this.dead--;
        continue;
      }
      // The oldest of all is the oldest of its box, but for mail another hub handed over (put first).
      const queue = oldest.box.queue;
      queue.splice(queue[0] === oldest ? 0 : queue.indexOf(oldest), 1);
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
export function ownerOf(who: Principal): string {
  return `${who.kind}:${who.name}`;
}
