import { isPattern, matchesPattern, type IncomingRequestMessage } from '@herald/protocol';
import type { Principal } from '../access/principal.js';

/**
 * Something that answers requests: a WebSocket connection that sent `serve`, or an HTTP responder
 * polling `GET /api/channels/{channel}/requests`. It is handed requests and says how many it holds.
 */
export interface Responder {
  readonly principal: Principal;
  /** Requests handed to it (or queued for it) and not answered yet. */
  pending: number;
  /** Most requests it may hold unanswered; past it the next responder is asked, or the request refused. */
  readonly capacity: number;
  /** Hands it a request (it answers with `RequestExchange.reply`). */
  offer(request: IncomingRequestMessage): void;
}

/**
 * Who serves which channel. A request goes to a responder of its exact channel if there is one with
 * room, else to a pattern responder that matches; among equals the least recently chosen one (the
 * chosen one moves to the back: round-robin).
 */
export class ResponderRegistry {
  private readonly exact = new Map<string, Responder[]>();
  /** Pattern registrations in round-robin order (matching is a walk; registrations are few). */
  private readonly patterns: Array<{ pattern: string; responder: Responder }> = [];

  /** Registers; false when `responder` already serves `channel`. */
  add(channel: string, responder: Responder): boolean {
    if (isPattern(channel)) {
      if (this.patterns.some((p) => p.pattern === channel && p.responder === responder)) return false;
      this.patterns.push({ pattern: channel, responder });
      return true;
    }
    const list = this.exact.get(channel);
    if (!list) {
      this.exact.set(channel, [responder]);
      return true;
    }
    if (list.includes(responder)) return false;
    list.push(responder);
    return true;
  }

  /** Unregisters; false when it did not serve `channel`. */
  remove(channel: string, responder: Responder): boolean {
    if (isPattern(channel)) {
      const i = this.patterns.findIndex((p) => p.pattern === channel && p.responder === responder);
      if (i < 0) return false;
      this.patterns.splice(i, 1);
      return true;
    }
    const list = this.exact.get(channel);
    const i = list?.indexOf(responder) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.exact.delete(channel);
    return true;
  }

  /** What `pick` would find, without choosing (and so without moving anyone in line). */
  availability(channel: string): Responder | 'busy' | undefined {
    let busy = false;
    for (const r of this.exact.get(channel) ?? []) {
      if (r.pending < r.capacity) return r;
      busy = true;
    }
    for (const { pattern, responder } of this.patterns) {
      if (!matchesPattern(pattern, channel)) continue;
      if (responder.pending < responder.capacity) return responder;
      busy = true;
    }
    return busy ? 'busy' : undefined;
  }

  /**
   * The responder for a request on `channel`, moved to the back of its line; `busy` when there are
   * responders but every one holds as many requests as it may; undefined when nothing serves it.
   */
  pick(channel: string): Responder | 'busy' | undefined {
    const list = this.exact.get(channel);
    let busy = false;
    if (list) {
      const i = list.findIndex((r) => r.pending < r.capacity);
      if (i >= 0) {
        const [chosen] = list.splice(i, 1);
        list.push(chosen!);
        return chosen;
      }
      busy = true;
    }
    for (let i = 0; i < this.patterns.length; i++) {
      const registration = this.patterns[i]!;
      if (!matchesPattern(registration.pattern, channel)) continue;
      if (registration.responder.pending >= registration.responder.capacity) {
        busy = true;
        continue;
      }
      this.patterns.splice(i, 1);
      this.patterns.push(registration);
      return registration.responder;
    }
    return busy ? 'busy' : undefined;
  }
}
