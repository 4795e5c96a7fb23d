import { checkChannel, grantAllows, RUN_SUMMARY_CHANNEL, type AuthInfo } from '@herald/protocol';
import { HeraldError } from '../errors.js';
import { KEY_PREFIX, type KeyBook, type KeyRecord } from './keys.js';
import { ANONYMOUS, OPEN, type Principal } from './principal.js';
import { TokenError, type TokenVerifier } from './tokens.js';

/** Every decision the hub makes about access is one of these. */
export type Action =
  /** Subscribe (exact or pattern), resume, snapshot, history, SSE. */
  | { kind: 'subscribe'; channel: string }
  | { kind: 'publish'; channel: string }
  /** Send a request on a channel (request/reply): as publishing to it. */
  | { kind: 'request'; channel: string }
  /** Answer requests on a channel or pattern: a responder speaks for the channel, so it needs to read and write it. */
  | { kind: 'serve'; channel: string }
  /** Delete a channel's history. */
  | { kind: 'reset'; channel: string }
  /** Hub-wide numbers: `/api/stats`, `/metrics`. */
  | { kind: 'admin'; what: string }
  /** Lists (channels, runs, search): any caller with credentials; results are filtered by `ReadScope`. */
  | { kind: 'list'; what: string }
  /** A direct message to one client id (see `directChannel`). */
  | { kind: 'direct'; to: string };

/** What a caller may read, for filtering lists: channel names, run channels, search hits. */
export interface ReadScope {
  /** True when everything is readable (no filtering needed). */
  readonly all: boolean;
  /** The subscribe grant, for filters that run in SQL. */
  readonly patterns: readonly string[];
  allows(channel: string): boolean;
}

const CREDENTIALS_HINT = 'send an API key or token as Authorization: Bearer <credential> (see docs/security.md)';

/**
 * The one access policy. The `Hub` asks it before every read, subscribe, publish and reset, whatever
 * the transport; doors only find out who is asking (`authenticate`) and hand that to the hub.
 *
 * With no keys and no JWT configured the hub is open (everyone is `OPEN`, allowed everything) — the
 * server refuses to start that way on anything but a loopback address.
 */
export class AccessPolicy {
  readonly mode: AuthInfo['mode'];
  /** Decisions taken, so that a test can prove a door consulted the policy. */
  decisions = 0;
  private readonly revokedListeners: Array<(matches: (who: Principal) => boolean) => void> = [];

  constructor(
    private readonly keys: KeyBook,
    private readonly tokens: TokenVerifier,
  ) {
    this.mode = keys.size > 0 || tokens.configured ? 'required' : 'open';
  }

  get required(): boolean {
    return this.mode === 'required';
  }

  /** Who a request without credentials is: everyone in open mode, nobody otherwise. */
  get anonymous(): Principal {
    return this.required ? ANONYMOUS : OPEN;
  }

  /**
   * Who a presented credential (an API key or a JWT) belongs to. Throws `unauthorized` with a reason
   * that never contains the credential. In open mode credentials are not checked: there is nothing to
   * check them against.
   */
  async authenticate(credential: string): Promise<Principal> {
    if (!this.required) return OPEN;
    if (credential.startsWith(KEY_PREFIX)) {
      const key = this.keys.lookup(credential);
      if (!key) throw new HeraldError('unauthorized', 'unknown or revoked API key');
      return { kind: 'key', name: key.name, grant: key.grant, key };
    }
    if (!this.tokens.configured) throw new HeraldError('unauthorized', `not an API key, and this hub verifies no tokens: ${CREDENTIALS_HINT}`);
    try {
      const token = await this.tokens.verify(credential);
      return { kind: 'token', name: token.subject, grant: token.grant, expiresAt: token.expiresAt };
    } catch (error) {
      if (error instanceof TokenError) throw new HeraldError('unauthorized', error.message);
      throw error;
    }
  }

  /** Allows the action or throws `unauthorized` (no or dead credentials) / `forbidden` (not permitted). */
  authorize(who: Principal, action: Action): void {
    this.requireLive(who);
    if (this.permits(who, action)) return;
    throw new HeraldError('forbidden', refusal(who, action));
  }

  /** What the caller may read; authorizes the listing itself first. */
  scope(who: Principal, what: string): ReadScope {
    this.authorize(who, { kind: 'list', what });
    const grant = who.grant;
    if (grant.admin || grant.subscribe.includes('>')) return { all: true, patterns: ['>'], allows: () => true };
    return { all: false, patterns: grant.subscribe, allows: (channel) => this.permits(who, { kind: 'subscribe', channel }) };
  }

  /** Whether the credentials are still good (not anonymous, not expired, key not revoked). */
  requireLive(who: Principal): void {
    this.decisions++;
    if (who.kind === 'anonymous') throw new HeraldError('unauthorized', `credentials required: ${CREDENTIALS_HINT}`);
    if (who.key?.revoked) throw new HeraldError('unauthorized', 'the API key was revoked');
    if (who.expiresAt !== undefined && who.expiresAt <= Date.now()) throw new HeraldError('unauthorized', 'token expired');
  }

  /**
   * Tells the doors that some credentials went away (a key revoked, a session signed out), so that
   * they close at once what was opened with them.
   */
  onRevoked(listener: (matches: (who: Principal) => boolean) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Called by the key store's watcher. */
  keysRevoked(records: readonly KeyRecord[]): void {
    const ids = new Set(records.map((r) => r.id));
    this.revoke((who) => who.key !== undefined && ids.has(who.key.id));
  }

  /** Ends everything opened by principals that `matches`. */
  revoke(matches: (who: Principal) => boolean): void {
    for (const listener of this.revokedListeners) listener(matches);
  }

  /** Whether the grant allows the action, without the liveness check or a throw (for re-checks). */
  permits(who: Principal, action: Action): boolean {
    const grant = who.grant;
    switch (action.kind) {
      case 'subscribe':
        return grantAllows(grant, 'subscribe', action.channel);
      case 'publish':
        // Run summaries are the hub's to write: a forged one would show a fake run to everyone.
        if (action.channel === RUN_SUMMARY_CHANNEL) return who.kind === 'system';
        return grantAllows(grant, 'publish', action.channel);
      case 'request':
        return this.permits(who, { kind: 'publish', channel: action.channel });
      case 'serve':
        return this.permits(who, { kind: 'subscribe', channel: action.channel }) && this.permits(who, { kind: 'publish', channel: action.channel });
      case 'reset':
      case 'admin':
        return grant.admin;
      case 'list':
        return true;
      case 'direct': {
        if (grant.admin) return true;
        const channel = directChannel(action.to);
        return channel !== undefined && grantAllows(grant, 'publish', channel);
      }
    }
  }
}

/**
 * Messaging client id X is publishing to the channel `clients.X`: a grant with publish `clients.>`
 * may message anyone, `clients.team-a.>` the ids `team-a.…`. An id that is no channel name (a `:` in
 * it, an empty segment) has no such channel: only admin may message it.
 */
export function directChannel(clientId: string): string | undefined {
  const channel = `clients.${clientId}`;
  return checkChannel(channel, false).ok ? channel : undefined;
}

function refusal(who: Principal, action: Action): string {
  const name = `"${who.name}"`;
  switch (action.kind) {
    case 'subscribe':
      return `${name} may not read "${action.channel}"${action.channel.includes('*') || action.channel.includes('>') ? ' (a pattern needs permission for every channel it can match)' : ''}`;
    case 'publish':
      return action.channel === RUN_SUMMARY_CHANNEL ? 'the "runs" channel is written by the hub only' : `${name} may not publish to "${action.channel}"`;
    case 'request':
      return `${name} may not send requests on "${action.channel}" (that needs the publish permission)`;
    case 'serve':
      return `${name} may not answer requests on "${action.channel}" (a responder needs both the subscribe and the publish permission for it)`;
    case 'reset':
      return `${name} may not reset channels (admin only)`;
    case 'admin':
      return `${action.what} needs the admin permission`;
    case 'list':
      return `${name} may not list ${action.what}`;
    case 'direct': {
      const channel = directChannel(action.to);
      return channel === undefined ? `${name} may not message client id "${action.to}" (it is no channel name, so only admin may)` : `${name} may not message client id "${action.to}" (it takes publish permission on "${channel}")`;
    }
  }
}
