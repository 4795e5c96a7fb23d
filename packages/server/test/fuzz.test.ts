import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { Agent, request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CLIENT_OPS, CloseCodes, ErrorCodes, SEVERITIES, type ServerMessage } from '@herald/protocol';
import { WebSocket } from 'ws';
import { startServer, type HeraldServer } from '../src/index.js';
import { Bystander } from './support/bystander.js';
import { scratchDirs } from './support/hub.js';

/**
 * Hostile input in bulk: fast-check generates WebSocket frames and HTTP requests — arbitrary text and
 * JSON, and above all commands and events that are almost right — against one real hub, while a
 * bystander subscribed throughout must receive every marker. Every answer must be documented: a known
 * message op, an error code from the shared table (never `internal`), a documented close code, an HTTP
 * status with the `{error:{code,message}}` body that goes with it. Nothing may hang, log an error or
 * reject unhandled. Violations are collected, grouped by kind, and reported with the shortest input of
 * each kind and the seed, so that one run lists every distinct bug.
 */

const SEED = 0x4e7a1d;
const CASES = { wsRaw: 3000, wsCommands: 7000, http: 10_000 } as const;
const LIMITS = { maxMessageBytes: 4096, maxFrameBytes: 16 * 1024, maxBodyBytes: 64 * 1024, maxSubscriptions: 24 };
/** A bystander marker every this many cases. */
const MARK_EVERY = 250;
const BARRIER_TIMEOUT_MS = 5000;

const SERVER_OPS: ReadonlySet<string> = new Set(['hello', 'subscribed', 'unsubscribed', 'published', 'pong', 'expiring', 'refreshed', 'error', 'event', 'ephemeral', 'presence', 'join', 'leave', 'serving', 'unserved', 'request', 'reply', 'replied', 'sent', 'direct'] satisfies Array<ServerMessage['op']>);
/** RFC 6455's close for a text frame that is not UTF-8 (ws sends it; Herald's table has no name for it). */
const INVALID_UTF8_CLOSE = 1007;

// ---------------------------------------------------------------------------------------------------
// Generators

/** A number written into the JSON text as is: values JSON.stringify cannot produce (1e309, -0, 1e-400…). */
const RAW = '\u0000raw:';
const rawNumber = fc.constantFrom('1e309', '-1e309', '1e-400', '-0', '0e0', '1E2', '0.1e1', '1.0', '9007199254740993', '123456789012345678901234567890', '-9007199254740992').map((n) => RAW + n);
const writeJson = (value: unknown): string => JSON.stringify(value).replace(/"\\u0000raw:([^"]*)"/g, '$1');

const prototypeKey = fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'then', 'length');
const number = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-1, 0, 0.5, 1, 2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1e300, -1e300, Number.MIN_VALUE),
  rawNumber,
);
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 8 }), prototypeKey);
/** Any JSON value, objects with prototype-ish keys among them. */
const weird: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  { arbitrary: number, weight: 2 },
  { arbitrary: text, weight: 2 },
  fc.constantFrom(null, true, false, [], {}, ''),
  fc.dictionary(prototypeKey, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
);

const validChannel = fc.constantFrom('fuzz', 'fuzz.a', 'fuzz.b.c', 'a', 'a-b_c', 'runs.r1', 'runs.r2', 'runs.team.r3', 'runs', '0', 'x'.repeat(160));
const pattern = fc.constantFrom('*', '>', 'fuzz.*', 'fuzz.>', 'runs.>', '*.>', 'runs.*', '*.*.*');
const badChannel = fc.oneof(
  fc.constantFrom('', ' ', '.', '..', 'a..b', '.a', 'a.', '>.a', 'a.>.b', '**', 'a*', 'x'.repeat(161), 'ä', '日本', '🎉', 'a b', 'a\u0000b', '\ud800', 'a/b', '%2F', '%zz', '%', '?', '#', 'a\nb', 'Bystander'),
  prototypeKey,
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ minLength: 150, maxLength: 200 }),
);
const channel = fc
  .oneof({ arbitrary: validChannel, weight: 4 }, { arbitrary: pattern, weight: 2 }, { arbitrary: badChannel, weight: 3 }, { arbitrary: fc.stringMatching(/^[A-Za-z0-9_*>-]{1,6}(\.[A-Za-z0-9_*>-]{1,6}){0,3}$/), weight: 2 })
  // The bystander's channel is the one thing left alone: its markers are what the bystander counts.
  .filter((c) => c !== 'bystander');

// Valid commands and events first; `broken` then replaces one or two fields, at any depth, with
// something wrong. Mostly-valid input reaches the code behind the checks (stores, replays, runs).

const epoch = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 12, maxLength: 12 });
const validSince = fc.oneof(
  fc.record({ offset: fc.nat(60), epoch }, { requiredKeys: ['offset'] }),
  fc.record({ positions: fc.dictionary(validChannel, fc.record({ offset: fc.nat(60), epoch }, { requiredKeys: ['offset'] }), { maxKeys: 3 }), time: fc.constantFrom(0, Date.now() - 60_000, Date.now()) }, { requiredKeys: [] }),
);

const label = fc.string({ maxLength: 12 });
/** Run event types with data that keeps their rules (docs/runs.md), and a few free types. */
const validEvent = fc
  .oneof(
    fc.record({ type: fc.constant('run.started'), data: fc.record({ title: label, labels: fc.dictionary(label, label, { maxKeys: 3 }) }, { requiredKeys: [] }) }),
    fc.record({ type: fc.constant('run.progress'), data: fc.record({ percent: fc.double({ min: 0, max: 100, noNaN: true }), message: label }, { requiredKeys: [] }) }),
    fc.record({ type: fc.constant('step.started'), data: fc.record({ step: fc.constantFrom('s1', 's2', 's3'), name: label, parent: fc.constantFrom('s1', 's2') }, { requiredKeys: ['step'] }) }),
    fc.record({ type: fc.constant('step.completed'), data: fc.record({ step: fc.constantFrom('s1', 's2', 's3'), status: fc.constantFrom('passed', 'failed', 'skipped'), durationMs: fc.nat(), message: label }, { requiredKeys: ['step', 'status'] }) }),
    fc.record({ type: fc.constant('log'), data: fc.record({ message: label }) }),
    fc.record({ type: fc.constant('metric'), data: fc.record({ name: fc.constantFrom('cpu', 'mem'), value: fc.double({ noNaN: true, noDefaultInfinity: true }), unit: fc.constantFrom('ms', '%') }, { requiredKeys: ['name', 'value'] }) }),
    fc.record({ type: fc.constantFrom('run.heartbeat', 'run.stalled'), data: fc.constant({}) }),
    fc.record({ type: fc.constant('run.completed'), data: fc.record({ status: fc.constantFrom('succeeded', 'failed', 'cancelled'), summary: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ['status'] }) }),
    fc.record({ type: fc.constantFrom('deploy', 'x', 't'.repeat(64)), data: fc.jsonValue({ maxDepth: 3 }) }),
  )
  .chain((e) =>
    fc.record(
      {
        severity: fc.constantFrom(...SEVERITIES),
        ts: fc.oneof(fc.integer({ min: 0, max: 4e12 }), fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString())),
        id: fc.constantFrom('dup-1', 'dup-2', 'dup-3'),
        source: label,
      },
      { requiredKeys: [] },
    ).map((extra) => ({ ...e, ...extra }) as Record<string, unknown>),
  );

/** Values that break a field: wrong types, limits just past, prototype names, deep nesting, JSON numbers JS cannot hold. */
const deep = (open: string, close: string) => fc.integer({ min: 30, max: 40 }).map((n) => JSON.parse(open.repeat(n) + '1' + close.repeat(n)) as unknown);
const breaking: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: weird },
  { weight: 2, arbitrary: channel },
  fc.constantFrom(undefined, 'fatal', 'INFO', 'x'.repeat(65), 'i'.repeat(129), 's'.repeat(501), '2024-13-45', 'now', 'Infinity', '\ud800', '\udc00', -1, 101, 100.5, 'hello', 'event', 'PUBLISH', 'subscribe ', 'runs', 'bystander.x'),
  deep('[', ']'),
  deep('{"a":', '}'),
  fc.string({ minLength: 4000, maxLength: 4200 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.constant(''), { minKeys: 40, maxKeys: 60 }),
);
const FIELDS = {
  command: ['op', 'id', 'channel', 'extra'],
  subscribe: ['since', 'snapshot', 'presence', 'since.offset', 'since.epoch', 'since.time', 'since.positions', 'since.positions.fuzz', 'since.positions.fuzz.offset', 'since.positions.__proto__'],
  publish: ['event', 'ephemeral', 'event.type', 'event.severity', 'event.data', 'event.ts', 'event.id', 'event.source', 'event.extra', 'event.__proto__', 'event.data.title', 'event.data.labels', 'event.data.labels.k', 'event.data.percent', 'event.data.message', 'event.data.step', 'event.data.name', 'event.data.parent', 'event.data.status', 'event.data.durationMs', 'event.data.value', 'event.data.unit', 'event.data.summary', 'event.data.__proto__'],
  token: ['token'],
  // Requests wait for their reply: a broken timeoutMs is a small number or refused, never a long wait.
  request: ['type', 'data', 'timeoutMs', 'data.__proto__'],
  reply: ['requestId', 'data', 'error'],
};
/** Sets `path` (dotted) in a copy of `value`, making objects on the way; `undefined` removes the field. */
function setPath(value: unknown, path: string[], replacement: unknown): unknown {
  const [key, ...rest] = path;
  if (key === undefined) return replacement;
  const copy: Record<string, unknown> = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : {};
  const next = setPath(Object.hasOwn(copy, key) ? copy[key] : undefined, rest, replacement);
  if (next === undefined) delete copy[key];
  // defineProperty, so that "__proto__" becomes a key of the JSON rather than the object's prototype.
  else Object.defineProperty(copy, key, { value: next, enumerable: true, writable: true, configurable: true });
  return copy;
}
const broken = <T,>(valid: fc.Arbitrary<T>, fields: string[]) =>
  fc.tuple(valid, fc.array(fc.tuple(fc.constantFrom(...fields), breaking), { maxLength: 2 })).map(([v, changes]) => changes.reduce<unknown>((acc, [path, value]) => setPath(acc, path.split('.'), value), v));
/** An event, valid or with a field or two broken. */
const event = broken(validEvent, FIELDS.publish.filter((f) => f.startsWith('event.')).map((f) => f.slice('event.'.length)));

const commandId = fc.oneof(fc.nat(1000), fc.string({ maxLength: 8 }));
const validCommandOf: Record<(typeof CLIENT_OPS)[number], fc.Arbitrary<Record<string, unknown>>> = {
  subscribe: fc.oneof(
    fc.record({ op: fc.constant('subscribe'), id: commandId, channel: fc.oneof(validChannel, pattern), since: validSince, presence: fc.boolean() }, { requiredKeys: ['op', 'channel'] }),
    fc.record({ op: fc.constant('subscribe'), id: commandId, channel: fc.constantFrom('runs.r1', 'runs.r2', 'runs.team.r3'), snapshot: fc.constant(true) }),
  ),
  unsubscribe: fc.record({ op: fc.constant('unsubscribe'), id: commandId, channel: fc.oneof(validChannel, pattern) }, { requiredKeys: ['op', 'channel'] }),
  publish: fc.record({ op: fc.constant('publish'), id: commandId, channel: validChannel, event: validEvent, ephemeral: fc.boolean() }, { requiredKeys: ['op', 'channel', 'event'] }),
  ping: fc.record({ op: fc.constant('ping'), id: commandId }, { requiredKeys: ['op'] }),
  auth: fc.record({ op: fc.constant('auth'), id: commandId, token: label }, { requiredKeys: ['op', 'token'] }),
  refresh: fc.record({ op: fc.constant('refresh'), id: commandId, token: label }, { requiredKeys: ['op', 'token'] }),
  presence: fc.record({ op: fc.constant('presence'), id: commandId, channel: validChannel, limit: fc.integer({ min: -1, max: 200 }), after: label }, { requiredKeys: ['op', 'channel'] }),
  send: fc.record({ op: fc.constant('send'), id: commandId, to: label, event: validEvent }, { requiredKeys: ['op', 'to', 'event'] }),
  serve: fc.record({ op: fc.constant('serve'), id: commandId, channel: fc.oneof(validChannel, pattern) }, { requiredKeys: ['op', 'channel'] }),
  unserve: fc.record({ op: fc.constant('unserve'), id: commandId, channel: fc.oneof(validChannel, pattern) }, { requiredKeys: ['op', 'channel'] }),
  // A request to a fuzzing socket that serves the channel waits for its deadline: kept short, and always given.
  request: fc.record({ op: fc.constant('request'), id: commandId, channel: validChannel, type: label, data: fc.jsonValue({ maxDepth: 3 }), timeoutMs: fc.integer({ min: -1, max: 300 }) }, { requiredKeys: ['op', 'channel', 'type', 'timeoutMs'] }),
  reply: fc.oneof(
    fc.record({ op: fc.constant('reply'), id: commandId, requestId: label, data: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['op', 'requestId'] }),
    fc.record({ op: fc.constant('reply'), id: commandId, requestId: label, error: label }, { requiredKeys: ['op', 'requestId', 'error'] }),
  ),
};
const fieldsOf = (name: (typeof CLIENT_OPS)[number]) => [...FIELDS.command, ...(name === 'subscribe' ? FIELDS.subscribe : name === 'publish' ? FIELDS.publish : name === 'auth' || name === 'refresh' ? FIELDS.token : name === 'request' ? FIELDS.request : name === 'reply' ? FIELDS.reply : [])];
const command = fc.oneof(
  ...CLIENT_OPS.map((name) => ({ arbitrary: broken(validCommandOf[name], fieldsOf(name)), weight: name === 'subscribe' || name === 'publish' ? 5 : name === 'unsubscribe' ? 3 : 1 })),
  { arbitrary: fc.dictionary(fc.oneof(fc.constantFrom('op', 'id', 'channel', 'event', 'since'), prototypeKey), weird, { maxKeys: 4 }), weight: 1 },
);

interface Frame {
  kind: string;
  data: string | Buffer;
  binary: boolean;
  /** The close this frame must bring, if any; every other frame must leave the connection open. */
  closes?: number;
  /** Which of the fuzzing connections sends it. */
  socket: number;
}

const frameOf = (kind: string, data: string | Buffer, binary = false) => {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const frame: Omit<Frame, 'socket'> = { kind, data, binary };
  if (size > LIMITS.maxFrameBytes) frame.closes = CloseCodes.tooBig.code;
  else if (!binary && Buffer.isBuffer(data) && !isUtf8(data)) frame.closes = INVALID_UTF8_CLOSE;
  return frame;
};
/** Damages JSON text: cut short, a character dropped, or junk put in. */
const damaged = (json: fc.Arbitrary<string>) =>
  fc.tuple(json, fc.nat(), fc.constantFrom('', ',', '}', ']', '"', '\\', '\u0000', 'NaN', 'undefined', '/*', '\ud800')).map(([t, at, junk]) => {
    const i = t.length === 0 ? 0 : at % t.length;
    return junk === '' ? t.slice(0, i) : t.slice(0, i) + junk + t.slice(i + 1);
  });

const withSocket = (frame: fc.Arbitrary<Omit<Frame, 'socket'>>) => fc.tuple(frame, fc.nat(2)).map(([f, socket]): Frame => ({ ...f, socket }));

const rawFrame = withSocket(
  fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map((s) => frameOf('text', s)) },
    { weight: 3, arbitrary: fc.json({ maxDepth: 4 }).map((s) => frameOf('json', s)) },
    { weight: 2, arbitrary: weird.map((v) => frameOf('json', writeJson(v))) },
    { weight: 2, arbitrary: damaged(command.map(writeJson)).map((s) => frameOf('damaged command', s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => frameOf('binary', Buffer.from(b), true)) },
    { weight: 1, arbitrary: command.map((c) => frameOf('binary command', Buffer.from(writeJson(c)), true)) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 32 }).map((b) => frameOf('raw bytes as text', Buffer.concat([Buffer.from('{"op":"'), Buffer.from(b), Buffer.from([0xff])]))) },
    { weight: 1, arbitrary: fc.nat({ max: 1 }).map((n) => frameOf('nesting', '['.repeat(8000 - n) + ']'.repeat(8000 - n))) },
    { weight: 1, arbitrary: fc.integer({ min: LIMITS.maxFrameBytes - 64, max: LIMITS.maxFrameBytes + 64 }).map((n) => frameOf('near the frame cap', `{"op":"ping","pad":"${'p'.repeat(n)}"}`)) },
  ),
);

const commandFrame = withSocket(
  fc.oneof(
    { weight: 6, arbitrary: command.map((c) => frameOf('command', writeJson(c))) },
    { weight: 2, arbitrary: fc.array(fc.oneof({ arbitrary: command, weight: 4 }, weird), { maxLength: 8 }).map((cs) => frameOf('batch', writeJson(cs))) },
    { weight: 1, arbitrary: fc.tuple(validCommandOf.publish, fc.nat(3)).map(([c, n]) => frameOf('duplicate keys', writeJson(c).replace(/^\{/, `{"op":"ping",`.repeat(1 + (n % 2))))) },
  ),
);

// ---------------------------------------------------------------------------------------------------
// HTTP generators

interface HttpCase {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

/** Percent-encodes the UTF-8 of `s` (lone surrogates become U+FFFD, where encodeURIComponent throws). */
const encode = (s: string) => [...Buffer.from(s)].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`)).join('');
/** Percent-encodings a URL parser has to refuse or think about: malformed, not UTF-8, dot segments, NUL. */
const brokenEscape = fc.constantFrom('%zz', '%', '%4', '%E0%A4%A', '%ED%A0%80', '%FF', '%C0%AF', '%00', '%2e%2e', '..', '%2F', 'a%2Fb', '%25', '%u0041');
/** A path segment as a client might send it: encoded, half encoded, raw where Node lets it through, or broken. */
const segment = (name: fc.Arbitrary<string>) =>
  fc.oneof(
    {
      weight: 9,
      arbitrary: fc.tuple(name, fc.nat(9)).map(([n, how]) => {
        if (how < 7) return encode(n);
        if (how < 9) return n.replace(/[^\u0021-\u00ff]/gu, encode); // '%', '/', '?', '#', latin-1 go raw
        return n.replace(/[A-Za-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
      }),
    },
    { weight: 1, arbitrary: fc.tuple(name.map(encode), brokenEscape).map(([n, broken]) => n + broken) },
  );
/** HTTP requests mostly name a valid channel, so that the body is what gets judged. */
const httpChannel = fc.oneof({ arbitrary: validChannel, weight: 6 }, { arbitrary: channel, weight: 4 });
const notBystander = (path: string) => !/bystander/i.test(safeDecode(path));
const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

const contentType = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  { weight: 3, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'Application/JSON', 'application/json;charset="UTF-8"', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json ;', 'application/json; foo=bar; baz') },
  { weight: 2, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'application/vnd.api+json', '*/*', '', ';;;', 'application/json, text/plain', 'application') },
  { weight: 1, arbitrary: fc.constant('<none>') },
);
const body = fc.oneof(
  { weight: 5, arbitrary: event.map(writeJson) },
  { weight: 3, arbitrary: fc.array(event, { maxLength: 6 }).map(writeJson) },
  { weight: 2, arbitrary: weird.map(writeJson) },
  { weight: 2, arbitrary: damaged(event.map(writeJson)) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\ufeff{"type":"t"}', 'null', '[]', '[[]]', '{}', '{"type":"t"}{"type":"t"}', '[' + '[{"type":"t"}],'.repeat(3) + '1]') },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([Buffer.from('{"type":"'), Buffer.from(b), Buffer.from('"}')])) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 1100 }).map((n) => JSON.stringify(Array.from({ length: n }, () => ({ type: 't' })))) },
  { weight: 1, arbitrary: fc.integer({ min: LIMITS.maxBodyBytes - 64, max: LIMITS.maxBodyBytes + 64 }).map((n) => `{"type":"t","data":"${'d'.repeat(n)}"}`) },
);

const queryValue = fc.oneof(fc.nat(2000).map(String), rawNumber.map((n) => n.slice(RAW.length)), fc.constantFrom('', '-1', '0', '1.5', '0x10', ' 1', '1 ', 'Infinity', 'NaN', 'true', '%zz', '%00', '1000', '1001', '9007199254740991', '9007199254740992'), text.map(encode), brokenEscape);
const queryKey = fc.oneof({ arbitrary: fc.constantFrom('since', 'limit', 'q', 'status', 'label', 'cursor', 'name', 'points'), weight: 6 }, fc.constantFrom('since[]', 'limit[a]', '__proto__', 'constructor', ''), text.map(encode), brokenEscape);
const query = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 3 }).map((pairs) => (pairs.length === 0 ? '' : '?' + pairs.map(([k, v]) => `${k}=${v}`).join('&')));
const cursor = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.tuple(number, text)).map((v) => Buffer.from(writeJson(v)).toString('base64url'));
const runId = segment(fc.oneof(fc.constantFrom('r1', 'r2', 'team.r3', '__proto__', 'constructor'), channel));

const httpCase: fc.Arbitrary<HttpCase> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.tuple(segment(httpChannel), body, contentType, fc.constantFrom('', '', '?ephemeral=true', '?ephemeral=false', '?ephemeral=yes', '?ephemeral=')).map(([ch, b, type, q]): HttpCase => ({
      kind: 'POST events',
      method: 'POST',
      path: `/api/channels/${ch}/events${q}`,
      headers: type === '<none>' ? {} : { 'content-type': type as string },
      body: b,
    })),
  },
  { weight: 4, arbitrary: fc.tuple(segment(httpChannel), query).map(([ch, q]) => ({ kind: 'GET history', method: 'GET', path: `/api/channels/${ch}/events${q}`, headers: {} })) },
  { weight: 2, arbitrary: segment(channel).map((ch) => ({ kind: 'DELETE channel', method: 'DELETE', path: `/api/channels/${ch}`, headers: {} })) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.tuple(query, fc.option(cursor)).map(([q, c]) => `/api/runs${q}${c === null ? '' : `${q ? '&' : '?'}cursor=${c}`}`),
      runId.map((id) => `/api/runs/${id}`),
      fc.tuple(runId, query).map(([id, q]) => `/api/runs/${id}/metrics${q}`),
      query.map((q) => `/api/search${q}`),
      fc.constantFrom('/api/channels', '/api/channels?x=1', '/api/channels/', '/api/channels//events', '/api/channels/a/events/', '/api/nothing', '/api/channels/a%2Fb/events', '/api', '/health?x=%zz'),
    ).map((path) => ({ kind: 'GET runs and others', method: 'GET', path, headers: {} })),
  },
  {
    weight: 1,
    // Request/reply: a requester's POST (short timeouts: a fuzzing socket may serve the channel and never
    // answer), a responder's long-poll (always with a short wait) and a reply.
    arbitrary: fc.oneof(
      fc.tuple(segment(httpChannel), broken(fc.record({ type: label, data: fc.jsonValue({ maxDepth: 3 }), timeoutMs: fc.integer({ min: -1, max: 20 }) }, { requiredKeys: ['type', 'timeoutMs'] }), ['type', 'data', 'extra']), contentType).map(([ch, b, type]): HttpCase => ({
        kind: 'POST request',
        method: 'POST',
        path: `/api/channels/${ch}/requests`,
        headers: type === '<none>' ? {} : { 'content-type': type as string },
        body: writeJson(b),
      })),
      fc.tuple(segment(httpChannel), fc.nat(50), query).map(([ch, wait, q]): HttpCase => ({ kind: 'GET requests', method: 'GET', path: `/api/channels/${ch}/requests?wait=${wait}${q ? `&${q.slice(1)}` : ''}`, headers: {} })),
      fc.tuple(segment(httpChannel), segment(label), fc.oneof(weird.map(writeJson), body)).map(([ch, id, b]): HttpCase => ({
        kind: 'POST reply',
        method: 'POST',
        path: `/api/channels/${ch}/requests/${id}/reply`,
        headers: { 'content-type': 'application/json' },
        body: b,
      })),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('PUT', 'PATCH', 'POST', 'DELETE'), fc.constantFrom('/api/channels', '/api/channels/fuzz', '/api/runs', '/health', '/api/channels/fuzz/events/x'), body).map(([method, path, b]) => ({
      kind: 'other methods',
      method,
      path,
      headers: { 'content-type': 'application/json' },
      body: b,
    })),
  },
).filter((c) => c.method === 'GET' || notBystander(c.path));

// ---------------------------------------------------------------------------------------------------
// The harness

interface Violation {
  what: string;
  input: string;
}

/** Collects violations by kind and keeps the shortest input of each; a report names them all. */
class Findings {
  private readonly byKind = new Map<string, { count: number; shortest: string }>();

  add({ what, input }: Violation): void {
    const known = this.byKind.get(what);
    if (!known) this.byKind.set(what, { count: 1, shortest: input });
    else {
      known.count++;
      if (input.length < known.shortest.length) known.shortest = input;
    }
  }

  get size(): number {
    return this.byKind.size;
  }

  report(): string {
    return [...this.byKind].map(([what, { count, shortest }]) => `- ${what} (${count}×), e.g. ${shortest}`).join('\n');
  }
}

const show = (data: string | Buffer, binary = false): string => {
  const shown = Buffer.isBuffer(data) ? `${binary ? 'binary' : 'text bytes'} <${data.toString('hex').slice(0, 400)}>` : JSON.stringify(data.length > 400 ? `${data.slice(0, 400)}…(${data.length} chars)` : data);
  return shown;
};

/** One WebSocket that fuzz frames go through: every message it receives is kept until checked. */
class FuzzSocket {
  readonly inbox: unknown[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly barriers = new Map<string, () => void>();
  private nextBarrier = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        parsed = { op: '<not JSON>', text: data.toString().slice(0, 200) };
      }
      for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
        const m = message as Record<string, unknown>;
        if (m?.op === 'pong' && typeof m.id === 'string' && this.barriers.has(m.id)) {
          this.barriers.get(m.id)!();
          this.barriers.delete(m.id);
        } else this.inbox.push(message);
      }
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async open(url: string): Promise<FuzzSocket> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new FuzzSocket(ws);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** A ping with a fresh id: once its pong is back, the hub has handled every frame sent before it. */
  barrier(): Promise<'pong' | { code: number; reason: string } | 'timeout'> {
    const id = `barrier:${this.nextBarrier++}`;
    const pong = new Promise<'pong'>((resolve) => this.barriers.set(id, () => resolve('pong')));
    if (this.open) this.ws.send(JSON.stringify({ op: 'ping', id }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), BARRIER_TIMEOUT_MS)));
    return Promise.race([pong, this.closed, timeout]).finally(() => clearTimeout(timer));
  }
}

/** What is wrong with one message the hub sent, if anything. */
function wsMessageProblem(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'a message that is not an object';
  const m = message as Record<string, unknown>;
  if (typeof m.op !== 'string' || !SERVER_OPS.has(m.op)) return `a message with unknown op ${JSON.stringify(m.op)}`;
  if ('id' in m && typeof m.id !== 'string' && typeof m.id !== 'number') return `a "${m.op}" reply whose id is ${JSON.stringify(m.id)} (not a string or number)`;
  if (m.op === 'error') {
    if (typeof m.code !== 'string' || !Object.hasOwn(ErrorCodes, m.code)) return `an error with undocumented code ${JSON.stringify(m.code)}`;
    if (m.code === 'internal') return 'an error reply `internal`';
    if (typeof m.message !== 'string' || m.message === '') return `an error ${m.code} without a message`;
  }
  return undefined;
}

/** What is wrong with one HTTP answer, if anything. */
function httpAnswerProblem(status: number, text: string, contentType: string | undefined): string | undefined {
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    return `${status} with a body that is not JSON (${contentType})`;
  }
  if (status === 200 || status === 201) return typeof json === 'object' && json !== null ? undefined : `${status} with a body that is not an object`;
  // A request nobody answers in time is answered as documented: 503 no_responder, 504 timeout.
  const rpc = json?.error?.code === 'no_responder' || json?.error?.code === 'timeout';
  if (status >= 500 && !rpc) return `${status} ${json?.error?.code ?? JSON.stringify(json).slice(0, 60)}`;
  const error = json?.error;
  if (typeof error !== 'object' || error === null) return `${status} without the {error:{code,message}} body (got keys ${Object.keys(json ?? {}).join(',')})`;
  if (!Object.hasOwn(ErrorCodes, error.code)) return `${status} with undocumented code ${JSON.stringify(error.code)}`;
  if (error.code === 'internal') return `${status} internal`;
  const documented = ErrorCodes[error.code as keyof typeof ErrorCodes].status;
  if (documented !== status) return `${status} with code ${error.code}, documented as ${documented}`;
  if (typeof error.message !== 'string' || error.message === '') return `${status} ${error.code} without a message`;
  return undefined;
}

/** Log lines at warn or above, except the ones a hostile client is expected to cause. */
function logRecorder(): { stream: Writable; lines: Set<string> } {
  const lines = new Set<string>();
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        try {
          const entry = JSON.parse(line) as { level: number; msg: string; err?: { message?: string } };
          if (entry.level >= 40 && entry.msg !== 'closing slow consumer') lines.add(`${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ''}`);
        } catch {
          lines.add(line);
        }
      }
      done();
    },
  });
  return { stream, lines };
}

describe('fuzz: hostile frames and requests (seed ' + SEED + ')', () => {
  const scratch = scratchDirs('herald-fuzz-');
  let hub: HeraldServer;
  let bystander: Bystander;
  let marks = 0;
  const logs = logRecorder();
  const rejections: string[] = [];
  const onRejection = (reason: unknown) => rejections.push(String((reason as Error)?.stack ?? reason));

  const mark = async () => {
    await bystander.mark();
    marks++;
  };

  before(async () => {
    process.on('unhandledRejection', onRejection);
    hub = await startServer({ port: 0, dataDir: scratch(), sync: 'normal', logLevel: 'warn', ...LIMITS }, { logStream: logs.stream });
    bystander = await Bystander.start(hub.url);
  });

  after(async () => {
    process.off('unhandledRejection', onRejection);
    await hub?.close();
  });

  const sockets: FuzzSocket[] = [];
  const socket = async (n: number) => {
    const current = sockets[n];
    if (current?.open) return current;
    current?.ws.terminate();
    return (sockets[n] = await FuzzSocket.open(hub.url));
  };

  /** Sends one frame, waits until the hub has answered everything it caused, and checks the answers. */
  async function sendFrame(frame: Frame, findings: Findings): Promise<void> {
    const ws = await socket(frame.socket);
    const input = `${frame.kind}: ${show(frame.data, frame.binary)}`;
    ws.ws.send(frame.data, { binary: frame.binary });
    let outcome = await ws.barrier();
    if (outcome === 'pong') {
      // Publishes are answered once committed; a second barrier then follows their replies out.
      await hub.hub.drain();
      outcome = await ws.barrier();
    }
    for (const message of ws.inbox.splice(0)) {
      const problem = wsMessageProblem(message);
      if (problem) findings.add({ what: `WebSocket: ${problem}`, input: `${input} → ${JSON.stringify(message).slice(0, 300)}` });
    }
    if (outcome === 'timeout') {
      findings.add({ what: 'WebSocket: no answer within 5 s (hang)', input });
      ws.ws.terminate();
    } else if (outcome !== 'pong') {
      // A slow consumer may be closed whatever it sent: it reconnects and resumes, as documented.
      const expected = frame.closes === outcome.code || outcome.code === CloseCodes.slowConsumer.code;
      if (!expected) findings.add({ what: `WebSocket: closed with ${outcome.code} ${outcome.reason}`.trim() + (frame.closes ? ` (expected ${frame.closes})` : ''), input });
    } else if (frame.closes !== undefined) {
      findings.add({ what: `WebSocket: left open after a frame that should close it with ${frame.closes}`, input });
    }
  }

  async function fuzzFrames(frames: fc.Arbitrary<Frame>, numRuns: number, seed: number): Promise<void> {
    const findings = new Findings();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        await sendFrame(frame, findings);
        if (++n % MARK_EVERY === 0) await mark();
      }),
      { numRuns, seed, endOnFailure: true },
    );
    assert.equal(n, numRuns);
    assert.equal(findings.size, 0, `seed ${seed}: the hub answered ${numRuns} frames with these violations:\n${findings.report()}`);
  }

  it(`answers ${CASES.wsRaw} arbitrary text, JSON and binary frames as documented`, async () => {
    await fuzzFrames(rawFrame, CASES.wsRaw, SEED);
  });

  it(`answers ${CASES.wsCommands} structured-but-wrong commands and batches as documented`, async () => {
    await fuzzFrames(commandFrame, CASES.wsCommands, SEED + 1);
  });

  it(`answers ${CASES.http} fuzzed HTTP requests with documented statuses and bodies`, async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const findings = new Findings();
    const send = (c: HttpCase) =>
      new Promise<{ status: number; text: string; type: string | undefined }>((resolve, reject) => {
        // Node sends a GET's or DELETE's body without a length unless told: the hub would read it as the next request.
        const headers = c.body === undefined ? c.headers : { ...c.headers, 'content-length': String(Buffer.byteLength(c.body)) };
        const req = httpRequest(`${hub.url}${c.path}`, { method: c.method, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), type: res.headers['content-type'] }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(c.body);
      });
    const check = async (c: HttpCase) => {
      const input = `${c.method} ${c.path}${c.headers['content-type'] === undefined ? '' : ` [${c.headers['content-type']}]`}${c.body === undefined ? '' : ` ${show(c.body)}`}`;
      try {
        const answer = await send(c);
        const problem = httpAnswerProblem(answer.status, answer.text, answer.type);
        if (problem) findings.add({ what: `HTTP ${c.kind}: ${problem}`, input: `${input} → ${answer.text.slice(0, 200)}` });
      } catch (error) {
        findings.add({ what: `HTTP ${c.kind}: request failed (${(error as Error).message})`, input });
      }
    };
    let n = 0;
    // Four requests at a time, over four kept-alive connections.
    await fc.assert(
      fc.asyncProperty(fc.array(httpCase, { minLength: 4, maxLength: 4 }), async (cases) => {
        await Promise.all(cases.map(check));
        n += cases.length;
        if (n % (MARK_EVERY * 4) === 0) await mark();
      }),
      { numRuns: CASES.http / 4, seed: SEED + 2, endOnFailure: true },
    );
    agent.destroy();
    assert.equal(n, CASES.http);
    assert.equal(findings.size, 0, `seed ${SEED + 2}: the hub answered ${CASES.http} requests with these violations:\n${findings.report()}`);
  });

  it('kept the bystander fed, stayed healthy, logged no error and left no rejection unhandled', async () => {
    for (const ws of sockets) ws?.ws.close();
    await bystander.verify();
    const health = await fetch(`${hub.url}/health`);
    assert.equal(health.status, 200, `seed ${SEED}: /health after the fuzz`);
    assert.deepEqual(rejections, [], `seed ${SEED}: unhandled rejections in the hub`);
    assert.deepEqual([...logs.lines], [], `seed ${SEED}: the hub logged warnings or errors`);
    assert.ok(marks >= 20, `${marks} markers were published during the fuzz`);
  });
});
