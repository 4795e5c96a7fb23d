import { checkChannel, checkEvent, DEFAULT_EVENT_SHAPE, type EventShapeLimits } from '@herald/protocol';
import { CONFIG_OPTIONS, type HeraldConfig } from './config.js';
import { HeraldError } from './errors.js';
import type { AppendInput } from './store/types.js';

/** Checks a channel name for publishing (no wildcards) and throws the documented error. */
export function requireChannel(channel: unknown): string {
  const check = checkChannel(channel, false);
  if (!check.ok) throw new HeraldError('invalid_channel', check.reason);
  return channel as string;
}

/** The hub settings behind each shape limit, named in refusals so that an operator knows what to change. */
const SHAPE_SETTINGS: Record<keyof EventShapeLimits, string> = { maxDepth: settingName('maxEventDepth'), maxKeys: settingName('maxEventKeys') };

function settingName(key: keyof HeraldConfig): string {
  const spec = CONFIG_OPTIONS.find((o) => o.key === key);
  return spec ? `--${spec.flag} / ${spec.env}` : key;
}

/**
 * Validates and serialises published events, all or nothing: a batch with one bad event stores none.
 * Each event is serialised here once; the same text is stored and sent to every subscriber.
 * `shape` bounds the nesting and size of each event's data (the hub's configured maxEventDepth and
 * maxEventKeys); it is checked before serialising, which is recursive.
 */
export function prepareEvents(raw: readonly unknown[], maxMessageBytes: number, shape: EventShapeLimits = DEFAULT_EVENT_SHAPE): AppendInput[] {
  return raw.map((input, index) => {
    const where = raw.length > 1 ? `event ${index}: ` : '';
    const check = checkEvent(input, shape);
    if (!check.ok) {
      const hint = check.limit ? `; the hub's operator can change this limit with ${SHAPE_SETTINGS[check.limit]}` : '';
      throw new HeraldError('invalid_event', where + check.reason + hint);
    }
    const json = JSON.stringify(check.event);
    const bytes = Buffer.byteLength(json);
    if (bytes > maxMessageBytes) throw new HeraldError('too_large', `${where}event is ${bytes} bytes; the cap is ${maxMessageBytes}`);
    return { event: check.event, json };
  });
}

/** `prepareEvents` with the hub's configured limits (message bytes, data depth and keys), as every door uses it. */
export function prepareConfigured(raw: readonly unknown[], config: Pick<HeraldConfig, 'maxMessageBytes' | 'maxEventDepth' | 'maxEventKeys'>): AppendInput[] {
  return prepareEvents(raw, config.maxMessageBytes, { maxDepth: config.maxEventDepth, maxKeys: config.maxEventKeys });
}
