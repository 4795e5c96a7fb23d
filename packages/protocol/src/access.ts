import { checkChannel } from './channel.js';
import { RUN_CHANNEL_PREFIX, RUN_SUMMARY_CHANNEL } from './runs.js';

/**
 * What a credential (API key, token, dashboard session) allows. Channel permissions are lists of
 * channels or patterns; `admin` allows everything (every channel, reset, stats, metrics).
 *
 * A JWT carries it as the `herald` claim:
 * `{"sub":"alice","exp":…,"herald":{"subscribe":["runs.team-a.>"],"publish":["runs.team-a.>"],"admin":false}}`.
 */
export interface Grant {
  /** Channels or patterns the holder may subscribe to and read the history of. */
  subscribe: string[];
  /** Channels or patterns the holder may publish to. */
  publish: string[];
  admin: boolean;
}

export type Permission = 'subscribe' | 'publish';

/** Everything: open mode, admin credentials and the hub's own work. */
export const FULL_GRANT: Readonly<Grant> = Object.freeze({ subscribe: ['>'], publish: ['>'], admin: true });

/**
 * Whether every channel `requested` can match is also matched by `allowed` (both may be exact names or
 * NATS-style patterns). `runs.team-a.>` covers `runs.team-a.x` and `runs.team-a.*`, but not `runs.>`,
 * `runs.*` or `>`, which can match channels outside it. The definition is the brute-force one — "for
 * every channel c, matches(requested, c) ⇒ matches(allowed, c)" — and a property test checks this
 * segment walk against it.
 */
export function patternCovers(allowed: string, requested: string): boolean {
  const a = allowed.split('.');
  const r = requested.split('.');
  for (let i = 0; i < a.length; i++) {
    const seg = a[i];
    // `>` matches one or more segments: whatever `requested` has from here on (at least one) fits.
    if (seg === '>') return r.length > i;
    const want = r[i];
    if (want === undefined) return false;
    // `>` in the request can match channels of any length at this point; only `>` covers that.
    if (want === '>') return false;
    // A single-segment wildcard is covered only by a wildcard; a literal by the same literal or `*`.
    if (seg !== '*' && seg !== want) return false;
  }
  return r.length === a.length;
}

/**
 * Whether `grant` allows `permission` on a channel or pattern. The run summary channel `runs` describes
 * every run, so reading it takes read access to every run (`runs.>`); the hub and the dashboard both ask
 * this one function.
 */
export function grantAllows(grant: Grant, permission: Permission, channel: string): boolean {
  if (grant.admin) return true;
  const target = permission === 'subscribe' && channel === RUN_SUMMARY_CHANNEL ? `${RUN_CHANNEL_PREFIX}>` : channel;
  for (const allowed of grant[permission]) if (patternCovers(allowed, target)) return true;
  return false;
}

/**
 * Reads the `herald` claim of a token (or the grant of a key) into a Grant; returns a sentence when it
 * is malformed, so that a bad claim is refused rather than read as "no permissions" by accident.
 */
export function parseGrant(raw: unknown): Grant | string {
  if (raw === undefined || raw === null) return { subscribe: [], publish: [], admin: false };
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'the herald claim must be an object {subscribe, publish, admin}';
  const obj = raw as Record<string, unknown>;
  const grant: Grant = { subscribe: [], publish: [], admin: false };
  for (const permission of ['subscribe', 'publish'] as const) {
    const list = obj[permission];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return `herald.${permission} must be an array of channels or patterns`;
    for (const item of list) {
      const check = checkChannel(item, true);
      if (!check.ok) return `herald.${permission}: ${check.reason}`;
      grant[permission].push(item as string);
    }
  }
  if (obj.admin !== undefined && typeof obj.admin !== 'boolean') return 'herald.admin must be true or false';
  grant.admin = obj.admin === true;
  return grant;
}

/**
 * `publish:runs.>`, `subscribe:>`, `admin` — how grants are written on the command line
 * (`herald keys create --allow …`). Returns a sentence when the text is not one of those.
 */
export function parseAllowRule(text: string, into: Grant): string | undefined {
  if (text === 'admin') {
    into.admin = true;
    return undefined;
  }
  const colon = text.indexOf(':');
  const permission = text.slice(0, colon);
  const channel = text.slice(colon + 1);
  if (colon < 0 || (permission !== 'subscribe' && permission !== 'publish')) {
    return `"${text}" is not a permission: write subscribe:<channel|pattern>, publish:<channel|pattern> or admin`;
  }
  const check = checkChannel(channel, true);
  if (!check.ok) return `"${text}": ${check.reason}`;
  into[permission].push(channel);
  return undefined;
}

/** The signed-in identity as `GET /api/auth/me` reports it. */
export interface AuthInfo {
  /** `open`: no credentials configured, everyone may do everything (loopback only). */
  mode: 'open' | 'required';
  /** Who the request was made as; absent when nobody is signed in. */
  principal?: {
    name: string;
    kind: 'key' | 'token' | 'open';
    grant: Grant;
    /** Milliseconds since the epoch when the credential stops working, if it expires. */
    expiresAt?: number;
  };
}
