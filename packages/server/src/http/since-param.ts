import { HeraldError } from '../errors.js';
import { parseSince, type Since } from '../recovery.js';

/**
 * The resume point of an HTTP reader (an SSE stream's `Last-Event-ID` or `?since=`, a long-poll's
 * `?since=`): `<offset>@<epoch>` as the stream's ids carry it, or a bare offset (in the current epoch).
 * Patterns: `allowPattern` readers (long-poll) take the WebSocket `since` as JSON
 * (`{"positions":{…},"time":…}`); the others refuse a pattern resume.
 */
export function sinceParam(text: string | undefined, isPattern: boolean, allowPattern: boolean): Since | undefined {
  if (text === undefined) return undefined;
  if (isPattern) {
    if (!allowPattern) throw new HeraldError('bad_request', 'SSE resume (Last-Event-ID or since) works on exact channels only; a pattern stream is live only');
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new HeraldError('bad_request', 'for a pattern, since is JSON: {"positions":{"<channel>":{"offset":N,"epoch":"…"}},"time":<ms>}');
    }
    const since = parseSince(raw, true);
    if (typeof since === 'string') throw new HeraldError('bad_request', since);
    return since;
  }
  const match = /^(\d+)(?:@([0-9A-Za-z_-]{1,64}))?$/.exec(text);
  if (!match || !Number.isSafeInteger(Number(match[1]))) {
    throw new HeraldError('bad_request', "Last-Event-ID / since must be an offset (a whole number ≥ 0), or <offset>@<epoch> as the stream's ids carry it");
  }
  return { kind: 'channel', position: { offset: Number(match[1]), ...(match[2] ? { epoch: match[2] } : {}) } };
}
