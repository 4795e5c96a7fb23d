import { createHash, randomBytes } from 'node:crypto';
import type { Grant } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import type { KeyBook } from './keys.js';
import type { Principal } from './principal.js';

interface Pass {
  principal: Principal;
  expiresAt: number;
  /** Shared passes: when the copy held here was last checked against the shared store. */
  checkedAt?: number;
}

/** Where the hubs of a cluster keep passes, so that a pass issued by one hub works on every hub. */
export interface SharedPasses {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
}

/** A pass as the shared store holds it: who, never the credential itself. */
interface StoredPass {
  kind: 'key' | 'token';
  name: string;
  grant: Grant;
  /** The key behind a key pass: found again on redeem, so a revoked key ends its passes on every hub. */
  keyId?: string;
  /** When the token behind a token pass expires. */
  credentialExpiresAt?: number;
  expiresAt: number;
}

/** A shared pass held here is checked again after this long (a sign-out on another hub counts within it). */
const SHARED_RECHECK_MS = 1000;

/**
 * Opaque, expiring stand-ins for credentials: dashboard sessions (an HttpOnly cookie) and SSE tickets
 * (EventSource cannot send headers). They live in memory, bounded in number (the oldest is dropped),
 * and die with the credential behind them: never later than its `exp`, at once when its key is revoked.
 *
 * Hubs on one Redis share them (`shared`): a pass is stored there under a hash of its id, with its
 * TTL, so a dashboard signed in on one hub stays signed in when a load balancer or a failover sends it to
 * another. A copy held here is checked against Redis at most every second: a sign-out on one hub ends
 * the session on the others within that.
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
    private readonly shared?: { store: SharedPasses; keys: KeyBook },
  ) {}

  async issue(principal: Principal): Promise<{ id: string; expiresAt: number }> {
    const expiresAt = Math.min(Date.now() + this.ttlMs, principal.expiresAt ?? Number.POSITIVE_INFINITY);
    const id = randomBytes(24).toString('base64url');
    if (this.shared && (principal.kind === 'key' || principal.kind === 'token')) {
      const stored: StoredPass = {
        kind: principal.kind,
        name: principal.name,
        grant: principal.grant,
        ...(principal.key ? { keyId: principal.key.id } : {}),
        ...(principal.expiresAt !== undefined ? { credentialExpiresAt: principal.expiresAt } : {}),
        expiresAt,
      };
      try {
        await this.shared.store.put(this.sharedKey(id), JSON.stringify(stored), Math.max(1, expiresAt - Date.now()));
      } catch {
        throw new HeraldError('storage_unavailable', `Redis did not answer: the ${this.kind} could not be shared with the other hubs; try again`);
      }
    }
    this.hold(id, { principal, expiresAt, checkedAt: Date.now() });
    return { id, expiresAt };
  }

  /** The principal behind a pass: for a session, one that expires with it and names it (so sign-out can end it). */
  async redeem(id: string): Promise<Principal | undefined> {
    let pass = this.passes.get(id);
    if (this.shared && (!pass || Date.now() - (pass.checkedAt ?? 0) > SHARED_RECHECK_MS)) pass = await this.fetch(id);
    if (!pass) return undefined;
    if (pass.expiresAt <= Date.now() || pass.principal.key?.revoked) {
      this.passes.delete(id);
      return undefined;
    }
    if (this.kind === 'ticket') return pass.principal;
    return { ...pass.principal, session: id, expiresAt: pass.expiresAt };
  }

  async revoke(id: string): Promise<void> {
    this.passes.delete(id);
    await this.shared?.store.delete(this.sharedKey(id));
  }

  /** Drops every pass issued to a principal that `matches` (for example one whose key was revoked). */
  revokeMatching(matches: (principal: Principal) => boolean): void {
    for (const [id, pass] of this.passes) if (matches(pass.principal)) this.passes.delete(id);
  }

  private hold(id: string, pass: Pass): void {
    this.passes.delete(id);
    if (this.passes.size >= this.maxPasses) this.passes.delete(this.passes.keys().next().value!);
    this.passes.set(id, pass);
  }

  /** The pass as the shared store has it now (gone there: gone here too). */
  private async fetch(id: string): Promise<Pass | undefined> {
    const { store, keys } = this.shared!;
    let text: string | null;
    try {
      text = await store.get(this.sharedKey(id));
    } catch {
      // Redis does not answer: a pass held here stays good until its own expiry (as keys do).
      return this.passes.get(id);
    }
    const stored = text === null ? undefined : parseStored(text);
    if (!stored) {
      this.passes.delete(id);
      return undefined;
    }
    let principal: Principal;
    if (stored.kind === 'key') {
      const key = stored.keyId === undefined ? undefined : keys.byId(stored.keyId);
      if (!key) {
        this.passes.delete(id);
        return undefined;
      }
      principal = { kind: 'key', name: key.name, grant: key.grant, key };
    } else {
      principal = { kind: 'token', name: stored.name, grant: stored.grant, ...(stored.credentialExpiresAt !== undefined ? { expiresAt: stored.credentialExpiresAt } : {}) };
    }
    const pass = { principal, expiresAt: stored.expiresAt, checkedAt: Date.now() };
    this.hold(id, pass);
    return pass;
  }

  private sharedKey(id: string): string {
    return `${this.kind}:${createHash('sha256').update(id).digest('base64url')}`;
  }
}

function parseStored(text: string): StoredPass | undefined {
  try {
    const value = JSON.parse(text) as StoredPass;
    return (value.kind === 'key' || value.kind === 'token') && typeof value.expiresAt === 'number' && typeof value.grant === 'object' ? value : undefined;
  } catch {
    return undefined;
  }
}
