import { FULL_GRANT, type Grant } from '@herald/protocol';
import type { KeyRecord } from './keys.js';

/**
 * Who a request or connection acts as. Every door hands one to the `Hub`, which asks the access policy
 * before it reads, subscribes, publishes or resets anything.
 * - `open`: a hub with no credentials configured (loopback only): everything is allowed.
 * - `system`: the hub's own work (run summaries, stall notices, catch-up after a restart).
 * - `anonymous`: no credentials on a hub that requires them: nothing is allowed.
 */
export interface Principal {
  readonly kind: 'open' | 'system' | 'anonymous' | 'key' | 'token';
  /** Key name or token subject; shown in logs and `/api/auth/me`, never a secret. */
  readonly name: string;
  readonly grant: Grant;
  /** When the credentials stop working, in milliseconds since the epoch. */
  readonly expiresAt?: number;
  /** The key behind a key principal: revoking it ends every connection that used it. */
  readonly key?: KeyRecord;
  /** The dashboard session the request came with: signing out ends what was opened with it. */
  readonly session?: string;
}

export const SYSTEM: Principal = Object.freeze({ kind: 'system', name: 'herald', grant: FULL_GRANT });
export const OPEN: Principal = Object.freeze({ kind: 'open', name: 'open', grant: FULL_GRANT });
export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous', name: 'anonymous', grant: Object.freeze({ subscribe: [], publish: [], admin: false }) });
