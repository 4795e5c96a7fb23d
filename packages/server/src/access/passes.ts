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
  ) {}

  issue(principal: Principal): { id: string; expiresAt: number } {
    const expiresAt = Math.min(Date.now() + this.ttlMs, principal.expiresAt ?? Number.POSITIVE_INFINITY);
    const id = randomBytes(24).toString('base64url');
    if (this.passes.size >= this.maxPasses) this.passes.delete(this.passes.keys().next().value!);
    this.passes.set(id, { principal, expiresAt });
    return { id, expiresAt };
  }

  /** The principal behind a pass, as a principal that expires with the pass. */
  redeem(id: string): Principal | undefined {
    const pass = this.passes.get(id);
    if (!pass) return undefined;
    if (pass.expiresAt <= Date.now() || pass.principal.key?.revoked) {
      this.passes.delete(id);
      return undefined;
    }
    return pass.expiresAt === pass.principal.expiresAt || pass.expiresAt === Number.POSITIVE_INFINITY ? pass.principal : { ...pass.principal, expiresAt: pass.expiresAt };
  }

  revoke(id: string): void {
    this.passes.delete(id);
  }

  /** Drops every pass issued for one of these keys. */
  revokeKeys(ids: ReadonlySet<string>): void {
    for (const [id, pass] of this.passes) if (pass.principal.key && ids.has(pass.principal.key.id)) this.passes.delete(id);
  }
}
