import { randomBytes } from 'node:crypto';
import type { Principal } from './principal.js';

interface Pass {
  principal: Principal;
  expiresAt: number;
}

/**
 * Opaque, expiring stand-ins for credentials: dashboard sessions (an HttpOnly cookie) and SSE tickets
 * (EventSource cannot send headers). They live in memory, bounded in number (the oldest is dropped),
 * and die with the credential behind them: never later than its `exp`, at once when its key is revoked.
 */
export class PassBook {
  private readonly passes = new Map<string, Pass>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPasses: number,
    /**
     * Sessions: what is opened with the pass ends with it (and names it, so sign-out can end it).
     * Tickets: the pass only opens a stream; the stream then lives as long as the credential behind it.
     */
    private readonly kind: 'session' | 'ticket',
  ) {}

  issue(principal: Principal): { id: string; expiresAt: number } {
    const expiresAt = Math.min(Date.now() + this.ttlMs, principal.expiresAt ?? Number.POSITIVE_INFINITY);
    const id = randomBytes(24).toString('base64url');
    if (this.passes.size >= this.maxPasses) this.passes.delete(this.passes.keys().next().value!);
    this.passes.set(id, { principal, expiresAt });
    return { id, expiresAt };
  }

  /** The principal behind a pass: for a session, one that expires with it and names it (so sign-out can end it). */
  redeem(id: string): Principal | undefined {
    const pass = this.passes.get(id);
    if (!pass) return undefined;
    if (pass.expiresAt <= Date.now() || pass.principal.key?.revoked) {
      this.passes.delete(id);
      return undefined;
    }
    if (this.kind === 'ticket') return pass.principal;
    return { ...pass.principal, session: id, expiresAt: pass.expiresAt };
  }

  revoke(id: string): void {
    this.passes.delete(id);
  }

  /** Drops every pass issued to a principal that `matches` (for example one whose key was revoked). */
  revokeMatching(matches: (principal: Principal) => boolean): void {
    for (const [id, pass] of this.passes) if (matches(pass.principal)) this.passes.delete(id);
  }
}
