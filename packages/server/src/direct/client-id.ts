import { MAX_CLIENT_ID_LENGTH } from '@herald/protocol';
import { HeraldError } from '../errors.js';

/** What a client id may be: the rule of `/ws?clientId=`, hub-assigned ids (UUIDs) included. */
export const CLIENT_ID = new RegExp(`^[A-Za-z0-9_.:-]{1,${MAX_CLIENT_ID_LENGTH}}$`);

/** The `to` of a direct message, or `bad_request` (never echoing a long or hostile value). */
export function requireClientId(to: unknown): string {
  if (typeof to === 'string' && CLIENT_ID.test(to)) return to;
  throw new HeraldError('bad_request', `to must be a client id: 1-${MAX_CLIENT_ID_LENGTH} characters of [A-Za-z0-9_.:-]`);
}
