import {
  CloseCodes,
  isPattern,
  runIdOfChannel,
  matchesPattern,
  messagesOfFrame,
  shouldReconnect,
  type DeliveredEvent,
  type EventInput,
  type RunListResponse,
  type RunStatus,
  type ServerMessage,
} from '@herald/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { SharedSubscription } from './shared-subscription.js';
import { SseTransport, type EventSourceConstructor } from './sse-transport.js';
import { Subscription, type EventHandler, type SubscribeOptions } from './subscription.js';

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';
export type TransportName = 'websocket' | 'sse';

export interface StateChange {
  from: ConnectionState;
  to: ConnectionState;
  /** Close code behind the change (from the shared table), when there is one. */
  code?: number;
  reason?: string;
  transport?: TransportName;
  /** When `to` is `disconnected` and a reconnect is scheduled: in how many ms. */
  retryInMs?: number;
}

/** The WebSocket API the client uses: the browser's, or `ws` on Node. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /**
   * The hub's HTTP base URL, e.g. `http://127.0.0.1:7070` — or the URLs of several hubs of one cluster
   * (hubs on one Redis, docs/cluster.md): the client uses the first, and each time the connection ends
   * and it reconnects, the next one, so a hub that goes away sends its clients to the others, where
   * every subscription resumes with no gap.
   */
  url: string | readonly string[];
  /** WebSocket implementation; defaults to `globalThis.WebSocket` (pass `ws` on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** EventSource implementation for the SSE fallback; defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
  fetch?: typeof fetch;
  backoff?: BackoffOptions;
  /**
   * Credentials for hubs that require them: an API key or a JWT. Asked before every connect (sent as
   * the first WebSocket frame, never in a URL), again when the hub says the token is about to expire
   * (the connection refreshes in place), and for HTTP calls (`Authorization: Bearer`).
   */
  getToken?: () => string | undefined | Promise<string | undefined>;
  /** Ask the hub for this client id. */
  clientId?: string;
  /** Transports in order of preference (default websocket, then sse). */
  transports?: TransportName[];
  /** While on the SSE fallback, how often to try WebSocket again (default 30 s). */
  websocketRetryMs?: number;
  /** Random source for backoff (tests). */
  random?: () => number;
}

export class HeraldError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HeraldError';
  }
}

export interface HistoryPage<T = unknown> {
  channel: string;
  epoch: string;
  latest: number;
  earliest: number;
  events: DeliveredEvent<T>[];
  next: number;
}

/** Filters of `client.runs()`, as `GET /api/runs` takes them ([runs.md](../../../docs/runs.md#http)). */
export interface RunListQuery {
  status?: RunStatus;
  /** `key=value`: runs with this label. */
  label?: string;
  /** Matches the title or the id. */
  q?: string;
  /** 1–200, default 50. */
  limit?: number;
  cursor?: string;
}

interface ClientEvents extends Record<string, unknown> {
  state: StateChange;
  error: { code: string; message: string };
}

interface Pending {
  resolve: (message: any) => void;
  reject: (error: Error) => void;
}

const OPEN = 1;

/**
 * A Herald connection: one state machine (`setState` is the only place state changes), reconnect with
 * full-jitter backoff unless the close code is terminal, resume of every subscription, and an SSE + HTTP
 * fallback. Callbacks of an old transport are ignored by a generation number.
 */
export class HeraldClient extends Emitter<ClientEvents> {
  state: ConnectionState = 'disconnected';
  transport: TransportName | undefined;
  clientId: string | undefined;
  private readonly urls: string[];
  private current = 0;
  /** One hub subscription per channel or pattern, shared by every `Subscription` on it. */
  private readonly subs = new Map<string, SharedSubscription<any>>();
  private readonly pending = new Map<number, Pending>();
  private generation = 0;
  private attempt = 0;
  private nextId = 1;
  private ws: WebSocketLike | undefined;
  private sse: SseTransport | undefined;
  private heartbeatMs = 25_000;
  /** The largest event the hub takes, as it announced in `hello`. */
  private maxMessageBytes: number | undefined;
  private lastSeen = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private websocketFailed = false;
  /** WebSocket attempts in a row that never got `hello`; one alone (a hub restarting) is no reason to fall back. */
  private websocketFailures = 0;

  constructor(private readonly options: ClientOptions) {
    super();
    this.urls = (typeof options.url === 'string' ? [options.url] : [...options.url]).map((u) => u.replace(/\/+$/, ''));
    if (this.urls.length === 0) throw new Error('createClient needs the URL of at least one hub');
  }

  /** The hub this client talks to now. */
  private get baseUrl(): string {
    return this.urls[this.current]!;
  }

  /** Starts connecting (and keeps reconnecting until `close()`). */
  connect(): this {
    if (this.state === 'disconnected' || this.state === 'closed') void this.open();
    return this;
  }

  /** Skips the backoff wait and connects now. */
  reconnectNow(): void {
    if (this.state === 'closed' || this.state === 'connected') return;
    void this.open();
  }

  /** Closes for good: no reconnect, subscriptions stay registered for a later `connect()`. */
  close(): void {
    this.generation++;
    this.dropTransport(CloseCodes.normal.code);
    this.setState('closed', { code: CloseCodes.normal.code, reason: 'closed by the client' });
  }

  /**
   * Subscribes to a channel or pattern. Any number of subscriptions may be open on one channel: they share
   * one hub subscription, and each gets the events after its own start (live, `since`, or a snapshot).
   */
  subscribe<T = unknown>(channel: string, handler?: EventHandler<T>, options: SubscribeOptions = {}): Subscription<T> {
    if (options.snapshot === true && options.since !== undefined) throw new Error('subscribe: give either since or snapshot: true, not both');
    if (options.snapshot === true && runIdOfChannel(channel) === undefined) throw new Error(`subscribe: snapshot: true works on run channels (runs.<runId>) only, not "${channel}"`);
    const sub = new Subscription<T>(channel, isPattern(channel), handler, options.since, options.snapshot === true, (s) => this.detach(s));
    let shared = this.subs.get(channel);
    if (!shared) {
      shared = new SharedSubscription(channel, sub.isPattern, { resubscribe: (s) => this.resubscribe(s) });
      this.subs.set(channel, shared);
      shared.add(sub);
      if (this.state === 'connected') this.startSubscription(shared);
    } else shared.add(sub);
    return sub;
  }

  /** The base URL of the hub this client talks to now (one of those given). */
  get url(): string {
    return this.baseUrl;
  }

  /**
   * A page of stored history over HTTP: events after `since` (default 0), oldest first. With `last`
   * instead, the newest `last` events. Works whatever the connection state.
   */
  async history<T = unknown>(channel: string, query: { since?: number; limit?: number; last?: number } = {}): Promise<HistoryPage<T>> {
    const get = async (since: number, limit: number) => {
      const response = await (this.options.fetch ?? fetch)(`${this.baseUrl}/api/channels/${encodeURIComponent(channel)}/events?since=${since}&limit=${limit}`, {
        headers: await this.authHeaders(),
      });
      const body = (await response.json()) as any;
      if (!response.ok) throw new HeraldError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`);
      return body as HistoryPage<T>;
    };
    if (query.last === undefined) return get(query.since ?? 0, query.limit ?? 100);
    const head = await get(0, 1);
    return head.latest <= 1 ? get(0, query.last) : get(Math.max(0, head.latest - query.last), query.last);
  }

  /** The run list over HTTP (`GET /api/runs`), newest first: only the runs the credentials may read. */
  async runs(query: RunListQuery = {}): Promise<RunListResponse> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const response = await (this.options.fetch ?? fetch)(`${this.baseUrl}/api/runs${params.toString() ? `?${params}` : ''}`, { headers: await this.authHeaders() });
    const body = (await response.json()) as any;
    if (!response.ok) throw new HeraldError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`);
    return body as RunListResponse;
  }

  /**
   * Publishes one event: over the WebSocket when connected, otherwise over HTTP. The event is given an
   * idempotency id (unless it has its own), so when the connection drops before the hub answers, or
   * the hub is briefly unavailable, the client sends it again (up to `attempts` times in all) and the
   * hub stores it once: the answer then says `duplicate`.
   */
  async publish(channel: string, event: EventInput, options: { attempts?: number } = {}): Promise<{ offset: number; epoch: string; duplicate?: boolean }> {
    // Checked here, against the limit the hub announced, so an oversized event fails alone and at once.
    const max = this.maxMessageBytes;
    if (max !== undefined) {
      const text = JSON.stringify(event);
      // A UTF-16 length of n is at most 3n bytes of UTF-8: most events need no encoding to be checked.
      const size = text.length * 3 <= max ? 0 : new TextEncoder().encode(text).length;
      if (size > max) throw new HeraldError('too_large', `the event is ${size} bytes; the hub takes at most ${max}`);
    }
    const sent: EventInput = event.id === undefined ? { ...event, id: eventId() } : event;
    const attempts = Math.max(1, options.attempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.publishOnce(channel, sent);
      } catch (error) {
        if (attempt >= attempts || !worthRetrying(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt - 1, this.options.backoff, this.options.random)));
      }
    }
  }

  private async publishOnce(channel: string, event: EventInput): Promise<{ offset: number; epoch: string; duplicate?: boolean }> {
    if (this.transport === 'websocket' && this.state === 'connected') {
      const reply = await this.request({ op: 'publish', channel, event });
      return { offset: reply.offset, epoch: reply.epoch, ...(reply.duplicate ? { duplicate: true } : {}) };
    }
    const doFetch = this.options.fetch ?? fetch;
    const response = await doFetch(`${this.baseUrl}/api/channels/${encodeURIComponent(channel)}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await this.authHeaders()) },
      body: JSON.stringify(event),
    });
    const body = (await response.json()) as any;
    if (!response.ok) throw new HeraldError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`);
    return { offset: body.offsets[0], epoch: body.epoch };
  }

  private async open(): Promise<void> {
    clearTimeout(this.retryTimer);
    const generation = ++this.generation;
    this.dropTransport(CloseCodes.normal.code);
    this.setState('connecting');
    let token: string | undefined;
    try {
      token = await this.options.getToken?.();
    } catch (error) {
      // A token endpoint that is down for a moment is no reason to give up: retry with backoff (1006 is
      // "abnormal", which reconnects). The hub's own 4401 is what stops a client for good.
      if (generation === this.generation) this.scheduleReconnect(1006, `getToken failed: ${String(error)}`);
      return;
    }
    if (generation !== this.generation) return;
    const transports = this.options.transports ?? ['websocket', 'sse'];
    const WebSocketImpl = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const useWebSocket = transports.includes('websocket') && WebSocketImpl && !(this.websocketFailed && this.canUseSse());
    if (useWebSocket) this.openWebSocket(generation, WebSocketImpl, token);
    else if (this.canUseSse()) await this.openSse(generation, token);
    else this.scheduleReconnect(CloseCodes.internal.code, 'no transport available: pass a WebSocket or EventSource implementation');
  }

  private openWebSocket(generation: number, WebSocketImpl: WebSocketConstructor, token: string | undefined): void {
    const query = this.options.clientId ? `?clientId=${encodeURIComponent(this.options.clientId)}` : '';
    const ws = new WebSocketImpl(`${this.baseUrl.replace(/^http/, 'ws')}/ws${query}`);
    this.ws = ws;
    let greeted = false;
    // Browsers cannot set headers on a WebSocket: credentials go in the first frame; the hub answers `hello`.
    ws.onopen = () => {
      if (generation === this.generation && token) ws.send(JSON.stringify({ op: 'auth', token }));
    };
    ws.onmessage = (event) => {
      if (generation !== this.generation) return;
      this.lastSeen = Date.now();
      for (const message of messagesOfFrame(JSON.parse(String(event.data)))) {
        if (message.op === 'hello') {
          greeted = true;
          this.maxMessageBytes = message.maxMessageBytes;
          this.onHello(message.clientId, message.heartbeatMs);
        } else this.onMessage(message);
      }
    };
    ws.onclose = (event) => {
      if (generation !== this.generation) return;
      this.ws = undefined;
      // Sockets that keep failing before hello are refused or blocked on the way: try the fallback next.
      if (!greeted && ++this.websocketFailures >= 2 && this.canUseSse()) this.websocketFailed = true;
      this.scheduleReconnect(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  private async openSse(generation: number, token: string | undefined): Promise<void> {
    // EventSource hides why it failed; a health check tells "hub down" apart from "stream refused".
    try {
      const response = await (this.options.fetch ?? fetch)(`${this.baseUrl}/health`);
      if (!response.ok) throw new Error(`health ${response.status}`);
    } catch (error) {
      // The hub itself is down: WebSocket was not the problem, so try it first next time.
      this.websocketFailed = false;
      this.websocketFailures = 0;
      if (generation === this.generation) this.scheduleReconnect(1006, `hub unreachable: ${String(error)}`);
      return;
    }
    if (generation !== this.generation) return;
    // EventSource cannot send headers either: each stream opens with a short-lived ticket for the token.
    const ticket = token ? () => this.ticket() : undefined;
    this.sse = new SseTransport(this.baseUrl, this.eventSourceImpl()!, ticket, (open) => {
      if (generation !== this.generation) return;
      if (open) this.setState('connected', { transport: 'sse' });
      else if (this.state === 'connected') this.setState('connecting');
    });
    this.transport = 'sse';
    this.attempt = 0;
    this.setState('connected', { transport: 'sse' });
    for (const sub of this.subs.values()) this.startSubscription(sub);
    // Go back to WebSocket when it works again (for example the proxy was fixed).
    this.retryTimer = setTimeout(() => {
      if (generation !== this.generation) return;
      this.websocketFailed = false;
      void this.open();
    }, this.options.websocketRetryMs ?? 30_000);
  }

  private onHello(clientId: string, heartbeatMs: number): void {
    this.clientId = clientId;
    this.heartbeatMs = heartbeatMs;
    this.attempt = 0;
    this.websocketFailed = false;
    this.websocketFailures = 0;
    this.transport = 'websocket';
    this.setState('connected', { transport: 'websocket' });
    for (const sub of this.subs.values()) this.startSubscription(sub);
    clearInterval(this.watchdog);
    // Browsers hide WebSocket pings from scripts, so liveness is checked with the protocol's own ping.
    this.watchdog = setInterval(() => this.checkAlive(), Math.max(50, Math.floor(this.heartbeatMs / 2)));
  }

  /** The hub warned that the token expires soon: refresh in place (on failure the hub closes with 4004 and the reconnect gets a new token). */
  private async refreshToken(): Promise<void> {
    try {
      const token = await this.options.getToken?.();
      if (token) await this.request({ op: 'refresh', token });
    } catch (error) {
      this.emit('error', { code: error instanceof HeraldError ? error.code : 'unauthorized', message: `token refresh failed: ${String(error)}` });
    }
  }

  /** Headers for HTTP calls: the token, when there is one. */
  private async authHeaders(): Promise<Record<string, string>> {
    const token = await this.options.getToken?.();
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  private async ticket(): Promise<string> {
    const response = await (this.options.fetch ?? fetch)(`${this.baseUrl}/api/auth/ticket`, { method: 'POST', headers: await this.authHeaders() });
    const body = (await response.json()) as any;
    if (!response.ok) throw new HeraldError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`);
    return body.ticket as string;
  }

  private checkAlive(): void {
    const silentFor = Date.now() - this.lastSeen;
    if (silentFor > 2 * this.heartbeatMs) {
      this.ws?.close(CloseCodes.heartbeatTimeout.code, 'hub silent for two heartbeats');
      // Do not wait for a close handshake with a peer that is not answering.
      const ws = this.ws;
      if (ws?.onclose) ws.onclose({ code: CloseCodes.heartbeatTimeout.code, reason: 'hub silent for two heartbeats' });
    } else if (silentFor > this.heartbeatMs / 2 && this.ws?.readyState === OPEN) {
      this.ws.send(JSON.stringify({ op: 'ping' }));
    }
  }

  private onMessage(message: ServerMessage): void {
    switch (message.op) {
      case 'event': {
        // The hub sends an event once however many of this connection's subscriptions match it.
        const matching: SharedSubscription<any>[] = [];
        for (const sub of this.subs.values()) {
          if (sub.channel === message.channel || (sub.isPattern && matchesPattern(sub.channel, message.channel))) matching.push(sub);
        }
        if (matching.length === 1) matching[0]!.deliver(message);
        else if (matching.length > 1) {
          const replied = matching.find((sub) => !sub.isPattern)?.replied;
          const overlap = { historyUpTo: replied?.epoch === message.epoch ? replied.offset : undefined };
          for (const sub of matching) sub.deliver(message, overlap);
        }
        return;
      }
      case 'subscribed':
        this.subs.get(message.channel)?.onSubscribed(message);
        break;
      case 'steps':
        this.subs.get(message.channel)?.onSteps(message);
        return;
      case 'expiring':
        void this.refreshToken();
        return;
      case 'error':
        if (message.id === undefined) this.emit('error', { code: message.code, message: message.message });
        break;
    }
    if ('id' in message && typeof message.id === 'number') {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (message.op === 'error') pending.reject(new HeraldError(message.code, message.message));
      else pending.resolve(message);
    }
  }

  private startSubscription(sub: SharedSubscription<any>, unsubscribeFirst = false): void {
    sub.setState('pending');
    if (this.transport === 'sse') {
      if (unsubscribeFirst) this.sse?.unsubscribe(sub);
      sub.sent(undefined, sub.resumeFrom());
      this.sse?.subscribe(sub);
      return;
    }
    const attempt = ++sub.attempts;
    const unpinned = sub.prepare();
    if (unpinned.length === 0) return this.sendSubscribe(sub, unsubscribeFirst);
    // The latest offsets of channels the pattern's live subscriptions have not seen (see prepare).
    sub.hold();
    const pins = unpinned.map((channel) => this.history(channel, { limit: 1 }).then((page) => sub.pin(channel, { offset: page.latest, epoch: page.epoch }), () => {}));
    void Promise.all(pins).then(() => {
      if (sub.attempts === attempt && this.state === 'connected' && this.subs.get(sub.channel) === sub) this.sendSubscribe(sub, unsubscribeFirst);
    });
  }

  private sendSubscribe(sub: SharedSubscription<any>, unsubscribeFirst: boolean): void {
    // A snapshot is asked for while a subscription waits for one; after a reconnect the positions resume it.
    const start = sub.startCommand();
    const commands = [{ op: 'subscribe', channel: sub.channel, ...start }];
    // In one frame with the subscribe, so that no event falls between the two.
    if (unsubscribeFirst) commands.unshift({ op: 'unsubscribe', channel: sub.channel });
    const sent = this.requestAll(commands);
    if (!sent) return;
    const [id, reply] = sent.at(-1)!;
    sub.sent(id, start.since);
    sent.slice(0, -1).forEach(([, unsubscribed]) => unsubscribed.catch(() => {}));
    reply.catch((error: HeraldError) => {
      if (error.code !== 'disconnected' && sub.isCurrent(id)) sub.fail(error.code, error.message);
    });
  }

  /** A subscription joined with an earlier start than the shared one's: subscribe again from the merged start. */
  private resubscribe(sub: SharedSubscription<any>): void {
    if (this.state === 'connected' && this.subs.get(sub.channel) === sub) this.startSubscription(sub, true);
  }

  private detach(handle: Subscription<any>): void {
    const sub = this.subs.get(handle.channel);
    if (!sub || !sub.remove(handle)) return;
    // The last one on the channel: the hub subscription ends.
    this.subs.delete(sub.channel);
    if (this.transport === 'sse') this.sse?.unsubscribe(sub);
    else if (this.state === 'connected') this.request({ op: 'unsubscribe', channel: sub.channel }).catch(() => {});
  }

  /** Sends several commands in one frame; undefined when not connected. */
  private requestAll(commands: Record<string, unknown>[]): Array<[number, Promise<any>]> | undefined {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return undefined;
    const sent = commands.map((command) => {
      const id = this.nextId++;
      const reply = new Promise<any>((resolve, reject) => this.pending.set(id, { resolve, reject }));
      return [id, reply, { ...command, id }] as const;
    });
    ws.send(JSON.stringify(sent.length === 1 ? sent[0]![2] : sent.map((s) => s[2])));
    return sent.map(([id, reply]) => [id, reply]);
  }

  private request(command: Record<string, unknown>): Promise<any> {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) return Promise.reject(new HeraldError('disconnected', 'not connected'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ ...command, id }));
    });
  }

  private scheduleReconnect(code: number, reason: string): void {
    this.dropTransport();
    if (!shouldReconnect(code)) {
      this.setState('disconnected', { code, reason });
      return;
    }
    const retryInMs = this.websocketFailed && this.attempt === 0 ? 0 : backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.attempt++;
    // Several hubs of one cluster: the next attempt goes to the next one (they share one history).
    if (this.urls.length > 1) this.current = (this.current + 1) % this.urls.length;
    this.setState('disconnected', { code, reason, retryInMs });
    this.retryTimer = setTimeout(() => void this.open(), retryInMs);
  }

  /** Ends the current transport and fails what waited on it. */
  private dropTransport(code?: number): void {
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      if (code !== undefined) ws.close(code);
    }
    this.sse?.close();
    this.sse = undefined;
    this.transport = undefined;
    for (const pending of this.pending.values()) pending.reject(new HeraldError('disconnected', 'the connection closed before the hub answered'));
    this.pending.clear();
    for (const sub of this.subs.values()) sub.setState('pending');
  }

  private canUseSse(): boolean {
    return (this.options.transports ?? ['websocket', 'sse']).includes('sse') && this.eventSourceImpl() !== undefined;
  }

  private eventSourceImpl(): EventSourceConstructor | undefined {
    return this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  }

  /** The one place where the connection state changes. */
  private setState(to: ConnectionState, details: Omit<StateChange, 'from' | 'to'> = {}): void {
    const from = this.state;
    if (from === to && to !== 'disconnected') return;
    this.state = to;
    this.emit('state', { from, to, ...details });
  }
}

/** A random idempotency id (getRandomValues works on plain-HTTP pages, where randomUUID does not). */
function eventId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return `c-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** A lost connection, an unreachable hub or one briefly unable to store: the same event may be sent again. */
function worthRetrying(error: unknown): boolean {
  if (error instanceof HeraldError) return error.code === 'disconnected' || error.code === 'storage_unavailable' || error.code === 'shutting_down';
  // fetch rejects with a TypeError when the hub cannot be reached at all.
  return error instanceof TypeError;
}
