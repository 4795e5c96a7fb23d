import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { AttachmentInfo, AttachmentRef, EventInput } from '@herald/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';

export interface PublisherOptions {
  /** The hub's HTTP base URL, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** Sent as `Authorization: Bearer …` (for authenticated hubs); defaults to `$HERALD_API_KEY`. */
  apiKey?: string;
  /** Most events per request (default 100, at most 1 000). */
  maxBatch?: number;
  /** How long an event may wait for others to share its request, ms (default 20). */
  flushIntervalMs?: number;
  /** Most events held while the hub is unreachable (default 100 000); beyond it the oldest are dropped. */
  maxQueued?: number;
  /** Retry delays (full-jitter backoff; default 250 ms growing to 5 s). */
  retry?: BackoffOptions;
  /** Keep unacknowledged events in this file, so that even a restart of the publisher loses nothing. */
  spoolFile?: string;
  /** Events the hub refused (4xx) or that overflowed `maxQueued`: they will not be sent. */
  onDrop?: (info: { reason: string; channel: string; events: EventInput[] }) => void;
  fetch?: typeof fetch;
}

export interface Publisher {
  /** Queues an event; it gets an idempotency `id` now, so that no retry can store it twice. */
  publish(channel: string, event: EventInput): void;
  /** Resolves once everything queued so far is acknowledged by the hub. */
  flush(): Promise<void>;
  /** Flushes, then stops. Resolves `false` if `timeoutMs` passed with events still unacknowledged. */
  close(options?: { timeoutMs?: number }): Promise<boolean>;
  /** Events not yet acknowledged. */
  readonly queued: number;
  /**
   * Uploads a file (a path, or bytes) as an attachment of `channel` and answers the hub's record with
   * `ref`, what to put in an event's `data.attachments`. Retried like publishes (the id is the bytes'
   * hash, so a retry stores nothing twice); a refusal (413, 415, 403…) rejects with the hub's reason.
   */
  upload(channel: string, file: string | Uint8Array, options?: UploadOptions): Promise<UploadedAttachment>;
}

export interface UploadOptions {
  /** Default: from the file name's extension, else `application/octet-stream`. */
  contentType?: string;
  /** What the reference calls it; default the file's base name (`attachment` for bytes). */
  name?: string;
  /** Longest time to keep retrying while the hub is unreachable or busy, ms (default 60 000). */
  timeoutMs?: number;
}

export interface UploadedAttachment extends AttachmentInfo {
  /** Ready for `data.attachments`: `{id, name, contentType, size}`. */
  ref: AttachmentRef;
}

/** Content types by extension, for the types the hub takes by default. */
const TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.svg': 'image/svg+xml',
  '.txt': 'text/plain', '.log': 'text/plain', '.csv': 'text/csv', '.md': 'text/markdown', '.html': 'text/html', '.htm': 'text/html',
  '.json': 'application/json', '.pdf': 'application/pdf', '.zip': 'application/zip', '.gz': 'application/gzip',
  '.mp4': 'video/mp4', '.webm': 'video/webm',
};

/** The content type the hub is told for a file name (`application/octet-stream` when unknown). */
export function contentTypeOf(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** A refusal by the hub (4xx other than 408/429): not retried. */
export class UploadRefused extends Error {
  override name = 'UploadRefused';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Entry {
  channel: string;
  event: EventInput;
}

/**
 * Creates a publisher for backends: batches per channel (one request in flight per channel, so order is
 * kept), retries with backoff on network errors, 5xx (including 507 quota_exceeded) and 429 (waiting at
 * least its Retry-After), and relies on idempotency ids so a retried
 * request never duplicates. A hub restart or network blip only delays events.
 */
export function createPublisher(options: PublisherOptions): Publisher {
  const baseUrl = options.url.replace(/\/+$/, '');
  const maxBatch = Math.min(options.maxBatch ?? 100, 1000);
  const maxQueued = options.maxQueued ?? 100_000;
  const retry = { initialDelayMs: 250, maxDelayMs: 5000, ...options.retry };
  const doFetch = options.fetch ?? fetch;
  const idPrefix = globalThis.crypto.randomUUID().slice(0, 13);
  const queues = new Map<string, Entry[]>();
  const busy = new Set<string>();
  const idleWaiters: Array<() => void> = [];
  let sequence = 0;
  let queued = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const enqueue = (entry: Entry) => {
    let queue = queues.get(entry.channel);
    if (!queue) queues.set(entry.channel, (queue = []));
    queue.push(entry);
    queued++;
    if (queued > maxQueued) {
      const oldest = [...queues.values()].reduce((a, b) => (a.length >= b.length ? a : b));
      const dropped = oldest.splice(busy.has(oldest[0]!.channel) ? 1 : 0, 1);
      queued -= dropped.length;
      if (dropped[0]) options.onDrop?.({ reason: `more than ${maxQueued} events queued`, channel: dropped[0].channel, events: [dropped[0].event] });
    }
  };

  const loadSpool = () => {
    if (!options.spoolFile || !existsSync(options.spoolFile)) return;
    for (const line of readFileSync(options.spoolFile, 'utf8').split('\n')) if (line.trim()) enqueue(JSON.parse(line) as Entry);
  };

  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      for (const channel of queues.keys()) void pump(channel);
    }, options.flushIntervalMs ?? 20);
  };

  const settleIfIdle = () => {
    if (queued > 0) return;
    if (options.spoolFile) writeFileSync(options.spoolFile, '');
    for (const resolve of idleWaiters.splice(0)) resolve();
  };

  /** Sends the channel's queue head-first, one request at a time, until it is empty. */
  const pump = async (channel: string): Promise<void> => {
    if (busy.has(channel)) return;
    busy.add(channel);
    let attempt = 0;
    let single = false;
    try {
      for (;;) {
        const queue = queues.get(channel);
        if (!queue || queue.length === 0) break;
        const batch = queue.slice(0, single ? 1 : maxBatch);
        const outcome = await send(channel, batch.map((e) => e.event));
        if (outcome === 'retry' || typeof outcome === 'number') {
          if (closed && closingDeadline !== undefined && Date.now() > closingDeadline) break;
          // A hub that says how long to wait (429 rate_limited with Retry-After) is waited for at least that long.
          const delay = Math.max(backoffDelay(attempt++, retry), typeof outcome === 'number' ? outcome : 0);
          await new Promise((r) => setTimeout(r, delay));
          continue;
        }
        attempt = 0;
        if (outcome !== 'ok' && batch.length > 1) {
          // One bad event refuses the whole batch: send one by one to find it and keep the rest.
          single = true;
          continue;
        }
        if (outcome !== 'ok') options.onDrop?.({ reason: outcome.refused, channel, events: batch.map((e) => e.event) });
        queue.splice(0, batch.length);
        queued -= batch.length;
        if (queue.length === 0) queues.delete(channel);
      }
    } finally {
      busy.delete(channel);
      settleIfIdle();
    }
  };

  const apiKey = options.apiKey ?? (process.env.HERALD_API_KEY || undefined);
  /** 'retry', or the milliseconds the hub asked to wait (Retry-After) before retrying. */
  const send = async (channel: string, events: EventInput[]): Promise<'ok' | 'retry' | number | { refused: string }> => {
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (apiKey) headers.authorization = `Bearer ${apiKey}`;
      const response = await doFetch(`${baseUrl}/api/channels/${encodeURIComponent(channel)}/events`, { method: 'POST', headers, body: JSON.stringify(events) });
      const text = await response.text();
      if (response.ok) return 'ok';
      const retryAfter = Number(response.headers.get('retry-after'));
      if (response.status === 429 && Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter, 60) * 1000;
      if (response.status >= 500 || response.status === 429 || response.status === 408) return 'retry';
      return { refused: `HTTP ${response.status}: ${text}` };
    } catch {
      return 'retry'; // network error: the hub is down or restarting
    }
  };

  let closingDeadline: number | undefined;
  // Events a previous publisher left unacknowledged go out first, without waiting for a new publish.
  loadSpool();
  if (queued > 0) schedule();

  const upload = async (channel: string, file: string | Uint8Array, uploadOptions: UploadOptions = {}): Promise<UploadedAttachment> => {
    const bytes = typeof file === 'string' ? await readFile(file) : file;
    const name = uploadOptions.name ?? (typeof file === 'string' ? basename(file) : 'attachment');
    const contentType = uploadOptions.contentType ?? contentTypeOf(name);
    const headers: Record<string, string> = { 'content-type': contentType };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const deadline = Date.now() + (uploadOptions.timeoutMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      let response: Response | undefined;
      try {
        response = await doFetch(`${baseUrl}/api/channels/${encodeURIComponent(channel)}/attachments`, { method: 'POST', headers, body: bytes as Uint8Array<ArrayBuffer> });
      } catch {
        // network error: the hub is down or restarting
      }
      if (response?.ok) {
        const info = (await response.json()) as AttachmentInfo;
        return { ...info, ref: { id: info.id, name, contentType: info.contentType, size: info.size } };
      }
      const text = response ? await response.text() : '';
      const retryable = !response || response.status >= 500 || response.status === 429 || response.status === 408;
      // 501 not_supported will not change by waiting.
      if (response && (!retryable || response.status === 501)) {
        const error = (() => {
          try {
            return (JSON.parse(text) as { error: { code: string; message: string } }).error;
          } catch {
            return { code: 'internal', message: text };
          }
        })();
        throw new UploadRefused(response.status, error.code, `the hub refused ${name}: HTTP ${response.status} ${error.code}: ${error.message}`);
      }
      if (Date.now() > deadline) throw new Error(`the hub did not take ${name} within ${uploadOptions.timeoutMs ?? 60_000} ms (${response ? `HTTP ${response.status}` : 'unreachable'})`);
      const retryAfter = Number(response?.headers.get('retry-after'));
      await new Promise((r) => setTimeout(r, Math.max(backoffDelay(attempt, retry), Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 60) * 1000 : 0)));
    }
  };

  return {
    upload,
    publish(channel, event) {
      if (closed) throw new Error('the publisher is closed');
      const entry: Entry = { channel, event: event.id === undefined ? { ...event, id: `${idPrefix}-${++sequence}` } : event };
      if (options.spoolFile) appendFileSync(options.spoolFile, JSON.stringify(entry) + '\n');
      enqueue(entry);
      schedule();
    },
    flush() {
      if (queued === 0) return Promise.resolve();
      schedule();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close({ timeoutMs } = {}) {
      closed = true;
      if (timeoutMs !== undefined) closingDeadline = Date.now() + timeoutMs;
      const flushed = this.flush().then(() => true);
      if (timeoutMs === undefined) return flushed;
      // The timer ends with the flush: a process that closed its publisher is not held up for timeoutMs.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(queued === 0), timeoutMs)));
      return Promise.race([flushed, timedOut]).finally(() => clearTimeout(timer));
    },
    get queued() {
      return queued;
    },
  };
}
