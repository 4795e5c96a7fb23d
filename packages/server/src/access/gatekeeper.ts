import type { IncomingHttpHeaders } from 'node:http';
import { HeraldError } from '../errors.js';
import type { OriginRules, OriginVerdict } from './origins.js';
import type { PassBook } from './passes.js';
import type { AccessPolicy } from './policy.js';
import type { Principal } from './principal.js';

/** The dashboard's session cookie: HttpOnly, SameSite=Strict, holding an opaque id (never a credential). */
export const SESSION_COOKIE = 'herald_session';

/**
 * Finds out who is knocking, the same way at every door (HTTP, SSE, the WebSocket upgrade): the
 * browser checks first (`Host`, `Origin`), then the credentials — `Authorization: Bearer`, else the
 * session cookie, else an SSE ticket. What the caller may then do is the hub's question, not this one's.
 */
export class Gatekeeper {
  constructor(
    readonly policy: AccessPolicy,
    readonly origins: OriginRules,
    readonly sessions: PassBook,
    readonly tickets: PassBook,
  ) {}

  /** Refuses forged hosts and foreign pages; returns whether the origin gets CORS headers. */
  checkBrowser(headers: IncomingHttpHeaders): OriginVerdict | undefined {
    if (!this.origins.hostAllowed(headers.host)) {
      throw new HeraldError('host_not_allowed', `Host "${String(headers.host).slice(0, 100)}" is not this hub's address: add it with --allowed-hosts or --public-url`);
    }
    const origin = headers.origin;
    if (origin === undefined) return undefined;
    const verdict = this.origins.originAllowed(origin, headers.host);
    if (verdict === false) {
      throw new HeraldError('origin_not_allowed', `pages on ${String(origin).slice(0, 100)} may not use this hub: add the origin with --cors-origin`);
    }
    return verdict;
  }

  /**
   * Who the request acts as. A bad bearer credential or ticket is refused (401); a stale session
   * cookie is not — the dashboard then shows its sign-in page.
   */
  async principalOf(headers: IncomingHttpHeaders, ticket?: string): Promise<Principal> {
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match) throw new HeraldError('unauthorized', 'the Authorization header must be "Bearer <API key or token>"');
      return this.policy.authenticate(match[1]!);
    }
    const session = cookieValue(headers.cookie, SESSION_COOKIE);
    if (session !== undefined) {
      const principal = await this.sessions.redeem(session);
      if (principal) return principal;
    }
    if (ticket !== undefined) {
      const principal = await this.tickets.redeem(ticket);
      if (!principal) throw new HeraldError('unauthorized', 'the stream ticket is unknown or expired: get a new one from POST /api/auth/ticket');
      return principal;
    }
    return this.policy.anonymous;
  }
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
