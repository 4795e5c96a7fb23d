import { Defaults, isPattern, matchesPattern, type SenderInfo } from '@herald/protocol';
import type { Redis } from 'ioredis';
import { HeraldError } from '../errors.js';
import type { RequestInput } from '../rpc/exchange.js';
import { NODE_TTL_MS } from './nodes.js';
import { PeerGone, PeerSilent, type PeerLink, type PeerMessage } from './peers.js';

/** How often a hub rewrites what it serves and reads what the others serve (besides their broadcasts). */
export const RESPONDERS_REFRESH_MS = 5000;
/** A hub that stopped rewriting its list (it died) drops out of Redis after this. */
export const RESPONDERS_TTL_MS = 3 * RESPONDERS_REFRESH_MS;
/** Channels and patterns one hub lists for the others; past it the rest are served to its own requesters only. */
export const MAX_ADVERTISED = 10_000;
/** Beyond a forwarded request's remaining time, how long the answer may take to travel back. */
export const ANSWER_GRACE_MS = 1000;
/** Changes to what this hub serves are written and announced at most this often (a serve/unserve storm costs one write). */
const ANNOUNCE_DELAY_MS = 20;
/** The most hubs read at a refresh (as the node registry lists). */
const MAX_NODES = 1000;

type Availability = 'free' | 'busy' | undefined;

/** What one other hub serves, as it last said. */
interface Served {
  exact: Set<string>;
  patterns: string[];
}

export interface RequestRelayContext {
  peers: PeerLink;
  redis: Redis;
  prefix: string;
  /** Whether a responder here could take a request on the channel now (no rotation). */
  availableHere(channel: string): Availability;
  /** Runs a request another hub forwarded through this hub's exchange (access was decided there). */
  requestHere(input: RequestInput): Promise<unknown>;
  onError(error: unknown, what: string): void;
}

/**
 * Request/reply across the hubs of one Redis. Each hub lists what it serves in `P:responders:<nodeId>`
 * (a set of channels and patterns, with a TTL it keeps renewing) and announces changes with a broadcast;
 * every hub keeps the cluster's lists in memory, so a request costs no Redis read. A request nothing
 * here can take goes (`rpc.request`, an ask with the request's remaining time) to a hub that serves a
 * matching channel, which runs it through its own exchange and answers with the reply or the error.
 */
export class RequestRelay {
  private readonly here = new Map<string, number>();
  private readonly others = new Map<string, Served>();
  /** Requests other hubs forwarded here, by `<hub>/<ref>`, to cancel them (bounded by the responders' capacity). */
  private readonly inbound = new Map<string, AbortController>();
  private readonly key: string;
  private readonly timer: NodeJS.Timeout;
  private announce: NodeJS.Timeout | undefined;
  private sequence = 0;
  private turn = 0;
  private closed = false;

  constructor(private readonly ctx: RequestRelayContext) {
    this.key = this.keyOf(ctx.peers.self);
    ctx.peers.handle('rpc.request', (message, from) => this.serveForwarded(message, from));
    ctx.peers.handle('rpc.cancel', (message, from) => this.inbound.get(`${from}/${String(message.ref)}`)?.abort());
    ctx.peers.handle('responders.changed', (_message, from) => void this.readNode(from).catch(() => {}));
    this.timer = setInterval(() => void this.refresh().catch(() => {}), RESPONDERS_REFRESH_MS);
    this.timer.unref();
    void this.refresh().catch(() => {});
  }

  private keyOf(nodeId: string): string {
    return `${this.ctx.prefix}:responders:${nodeId}`;
  }

  /** A channel (or pattern) got a responder here. */
  served(channel: string): void {
    const count = this.here.get(channel) ?? 0;
    this.here.set(channel, count + 1);
    if (count === 0) this.changed();
  }

  unserved(channel: string): void {
    const count = this.here.get(channel) ?? 0;
    if (count <= 1) this.here.delete(channel);
    else this.here.set(channel, count - 1);
    if (count === 1) this.changed();
  }

  /** Whether another hub said it serves something that matches `channel`. */
  servedElsewhere(channel: string): boolean {
    for (const served of this.others.values()) if (matches(served, channel)) return true;
    return false;
  }

  /**
   * The request on a hub that serves it: the reply's data, or the error its exchange answered. A hub
   * that had no free responder after all, or was gone before it got the request, is replaced by another
   * once; a hub that died holding it answers no_responder (its responder may have acted on it).
   */
  async forward(input: RequestInput): Promise<unknown> {
    const deadline = Date.now() + input.timeoutMs;
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 2; attempt++) {
      const node = this.pick(input.channel, tried);
      const remaining = deadline - Date.now();
      if (node === undefined || remaining <= 0) break;
      tried.add(node);
      const ref = (++this.sequence).toString(36);
      const message: PeerMessage = { kind: 'rpc.request', ref, channel: input.channel, type: input.type, from: input.from, timeoutMs: remaining };
      if (input.data !== undefined) message.data = input.data;
      // Best effort: the other hub ends its request too, so its responder's late reply is refused there.
      const cancel = () => void this.ctx.peers.send(node, { kind: 'rpc.cancel', ref }).catch(() => {});
      input.signal?.addEventListener('abort', cancel, { once: true });
      try {
        const answer = await this.ctx.peers.ask(node, message, remaining + ANSWER_GRACE_MS, input.signal);
        if (answer.kind === 'rpc.reply') return answer.data;
      } catch (error) {
        if (error instanceof PeerGone) {
          this.others.delete(node);
          if (error.reached) throw new HeraldError('no_responder', `the hub serving "${input.channel}" went away before its responder replied`);
          continue;
        }
        if (error instanceof PeerSilent) throw new HeraldError('timeout', `no reply on "${input.channel}" within the request's timeout (the hub serving it did not answer)`);
        throw error;
      } finally {
        input.signal?.removeEventListener('abort', cancel);
      }
    }
    if (Date.now() >= deadline) throw new HeraldError('timeout', `no reply on "${input.channel}" within the request's timeout`);
    throw new HeraldError('no_responder', `nothing on any hub serves requests on "${input.channel}" with room for one more right now`);
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.announce);
    for (const cancel of this.inbound.values()) cancel.abort();
    // The others stop sending requests here at once, instead of at their next refresh.
    await this.ctx.redis.del(this.key).then(() => this.ctx.peers.broadcast({ kind: 'responders.changed' })).catch(() => {});
  }

  private async serveForwarded(message: PeerMessage, from: string): Promise<PeerMessage> {
    const channel = String(message.channel);
    // Nothing free here (it left, or every one is busy): the asking hub may try another.
    if (this.closed || this.ctx.availableHere(channel) !== 'free') return { kind: 'rpc.none' };
    const requested = Number(message.timeoutMs);
    const timeoutMs = Number.isInteger(requested) ? Math.min(Math.max(requested, 1), Defaults.maxReplyTimeoutMs) : Defaults.replyTimeoutMs;
    const key = `${from}/${String(message.ref)}`;
    const cancel = new AbortController();
    this.inbound.set(key, cancel);
    try {
      const input: RequestInput = { channel, type: String(message.type), from: (message.from ?? {}) as SenderInfo, timeoutMs, signal: cancel.signal };
      if (message.data !== undefined) input.data = message.data;
      const data = await this.ctx.requestHere(input);
      return data === undefined ? { kind: 'rpc.reply' } : { kind: 'rpc.reply', data };
    } finally {
      this.inbound.delete(key);
    }
  }

  /** Among the hubs that serve `channel` (and were not tried), the next in turn. */
  private pick(channel: string, tried: ReadonlySet<string>): string | undefined {
    const nodes: string[] = [];
    for (const [node, served] of this.others) if (!tried.has(node) && matches(served, channel)) nodes.push(node);
    return nodes.length === 0 ? undefined : nodes[this.turn++ % nodes.length];
  }

  private changed(): void {
    if (this.announce || this.closed) return;
    this.announce = setTimeout(() => {
      this.announce = undefined;
      this.writeOwn()
        .then(() => this.ctx.peers.broadcast({ kind: 'responders.changed' }))
        .catch((error: unknown) => this.ctx.onError(error, 'listing this hub\'s responders in Redis'));
    }, ANNOUNCE_DELAY_MS);
    this.announce.unref();
  }

  /** Rewrites this hub's list whole (so it heals after Redis lost it), with its TTL. */
  private async writeOwn(): Promise<void> {
    if (this.closed) return;
    const listed = [...this.here.keys()].slice(0, MAX_ADVERTISED);
    const multi = this.ctx.redis.multi().del(this.key);
    if (listed.length > 0) multi.sadd(this.key, ...listed).pexpire(this.key, RESPONDERS_TTL_MS);
    await multi.exec();
  }

  private async readNode(node: string): Promise<void> {
    const members = await this.ctx.redis.smembers(this.keyOf(node));
    if (members.length === 0) this.others.delete(node);
    else this.others.set(node, toServed(members));
  }

  /** What every live hub serves (one pipeline), and this hub's own list rewritten. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    await this.writeOwn();
    const now = Date.now();
    const ids = (await this.ctx.redis.zrevrangebyscore(`${this.ctx.prefix}:nodes`, '+inf', now - 2 * NODE_TTL_MS, 'LIMIT', 0, MAX_NODES)).filter((id) => id !== this.ctx.peers.self);
    const pipeline = this.ctx.redis.pipeline();
    for (const id of ids) pipeline.smembers(this.keyOf(id));
    const rows = ids.length > 0 ? ((await pipeline.exec()) ?? []) : [];
    const next = new Map<string, Served>();
    rows.forEach(([error, members], i) => {
      if (!error && Array.isArray(members) && members.length > 0) next.set(ids[i]!, toServed(members as string[]));
    });
    this.others.clear();
    for (const [id, served] of next) this.others.set(id, served);
  }
}

function toServed(members: readonly string[]): Served {
  const served: Served = { exact: new Set(), patterns: [] };
  for (const member of members.slice(0, MAX_ADVERTISED)) {
    if (isPattern(member)) served.patterns.push(member);
    else served.exact.add(member);
  }
  return served;
}

function matches(served: Served, channel: string): boolean {
  return served.exact.has(channel) || served.patterns.some((pattern) => matchesPattern(pattern, channel));
}
