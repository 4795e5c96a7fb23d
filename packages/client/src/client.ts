import {
  CloseCodes,
  isPattern,
  runIdOfChannel,
  matchesPattern,
  messagesOfFrame,
  shouldReconnect,
  type DeliveredEvent,
  type DirectMessage,
  type EventInput,
  type PresenceMessage,
  type PresenceResponse,
  type PatternPosition,
  type StreamPosition,
  type RunListResponse,
  type RunStatus,
  type ServerMessage,
} from '@herald/protocol';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { Emitter } from './emitter.js';
import { PollTransport, type ReceivingTransport } from './poll-transport.js';
import { ServedChannels, type RequestInput, type RequestOptions, type ServeHandler } from './rpc.js';
import { SharedSubscription } from './shared-subscription.js';
import { SseTransport, type EventSourceConstructor, type EventSourceLike } from './sse-transport.js';
import { Subscription, type EventHandler, type SubscribeOptions } from './subscription.js';

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';
export type TransportName = 'websocket' | 'sse' | 'poll';

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
  // Handlers take `any`: the browser's and `ws`'s own event types (Event, MessageEvent, CloseEvent) must
  // both fit, and a handler typed for one of them is not assignable to one taking a looser shape.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
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
  /** Transports in order of preference (default websocket, then sse, then poll). */
  transports?: TransportName[];
  /**
   * While on a fallback (sse or poll), how often the better transports are probed in the background
   * (default 30 s); the client switches once one delivers, with no change of state in between.
   */
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

/** A page of `client.presence()`: every subscriber counted, at most `limit` listed; `next` is the next page's `after`. */
export type PresencePage = Pick<PresenceMessage, 'count' | 'clients' | 'next'>;

/** A page of `client.newest()`. */
export interface NewestPage<T = unknown> {
  /** Newest first. */
  events: DeliveredEvent<T>[];
  /** Pass as `before` for older events; undefined when there are none. */
  next: string | undefined;
  /** Where a subscription continues after the newest page (only the first page's is meaningful). */
  resumeFrom: StreamPosition | PatternPosition;
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
  /** A message sent to this client's id alone (`send`), live or kept while it was away. */
  direct: DirectMessage;
}

interface Pending {
  resolve: (message: any) => void;
  reject: (error: Error) => void;
}

const OPEN = 1;

/**
 * A Herald connection: one state machine (`setState` is the only place state changes), reconnect with
 * full-jitter backoff unless the close code is terminal, resume of every subscription, and fallbacks —
 * SSE, then HTTP long-poll — for receiving where WebSocket does not get through (publishing then goes
 * over HTTP). Callbacks of an old transport are ignored by a generation number.
 *
 * The state never lies about the path: while transports are tried in turn and the hub answers HTTP it
 * stays `connecting`; it is `connected` once a transport delivers (WebSocket `hello`, an SSE message, a
 * poll answer), and `disconnected` only when the hub cannot be reached or the connection was lost. On a
 * fallback the better transports are probed in the background; the state does not move while they are.
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
  /** The receiving transport while on a fallback (sse or poll). */
  private fallback: ReceivingTransport | undefined;
  private heartbeatMs = 25_000;
  /** The largest event the hub takes, as it announced in `hello`. */
  private maxMessageBytes: number | undefined;
  private lastSeen = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  /** Transports that did not deliver on this path (the hub answered HTTP); tried again by probing. */
  private readonly failed = new Set<TransportName>();
  /** WebSocket attempts in a row that never got `hello`; one alone (a hub restarting) is no reason to fall back. */
  private websocketFailures = 0;
  /** The hub's heartbeat interval as its `/health` names it: how long an SSE stream may be silent. */
  private hubHeartbeatMs: number | undefined;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The transport the last `connected` change was emitted for: a switch is emitted too. */
  private connectedOver: TransportName | undefined;
  /** The channels `serve` answers requests on, announced again on every connection. */
  private readonly served = new ServedChannels({
    command: (command) => this.command(command),
    connected: () => this.overWebSocket(),
    fail: (code, message) => this.emit('error', { code, message }),
  });

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
    if (options.presence && isPattern(channel)) throw new Error(`subscribe: presence: true works on exact channels only, not "${channel}"`);
    const sub = new Subscription<T>(channel, isPattern(channel), handler, options.since, options.snapshot === true, (s) => this.detach(s), options.presence === true);
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
      return this.call<HistoryPage<T>>(`/api/channels/${encodeURIComponent(channel)}/events?since=${since}&limit=${limit}`);
    };
    if (query.last === undefined) return get(query.since ?? 0, query.limit ?? 100);
    const head = await get(0, 1);
    return head.latest <= 1 ? get(0, query.last) : get(Math.max(0, head.latest - query.last), query.last);
  }

  /**
   * The newest stored events across the channels a pattern matches, newest first, a page at a time over
   * HTTP: pass the page's `next` as `before` for older ones (an exact channel gets its newest `limit`
   * events and no `next`: page it by offset with `history`). `resumeFrom` is where
   * a subscription continues after this page with no gap and no duplicate:
   * `client.subscribe(pattern, handler, {since: page.resumeFrom})`.
   */
  async newest<T = unknown>(pattern: string, query: { limit?: number; before?: string } = {}): Promise<NewestPage<T>> {
    if (!isPattern(pattern)) {
      // One channel: its newest events by offset; older ones page by offset (`history`), not by cursor.
      const page = await this.history<T>(pattern, { last: query.limit ?? 100 });
      return { events: page.events.reverse(), next: undefined, resumeFrom: { offset: page.latest, epoch: page.epoch } };
    }
    const params = new URLSearchParams({ limit: String(query.limit ?? 100), ...(query.before ? { before: query.before } : {}) });
    const body = await this.call<{ events: DeliveredEvent<T>[]; next: string | null; time: number }>(`/api/channels/${encodeURIComponent(pattern)}/events?${params}`);
    const events = body.events;
    const positions: Record<string, { offset: number; epoch: string }> = {};
    // Newest first: the first event seen of a channel is its latest.
    for (const e of events) positions[e.channel] ??= { offset: e.offset, epoch: e.epoch };
    return { events, next: body.next ?? undefined, resumeFrom: { positions, time: events[0]?.time ?? body.time } };
  }

  /**
   * Who is subscribed to a channel now on the hub this client talks to (exact-channel WebSocket and SSE
   * subscribers, oldest first): a page of at most `limit` (default and most 100) and the `count` of all;
   * pass `next` as `after` for the next page. Over the WebSocket when connected, else HTTP.
   */
  async presence(channel: string, query: { limit?: number; after?: string } = {}): Promise<PresencePage> {
    if (this.overWebSocket()) {
      const { count, clients, next } = (await this.command({ op: 'presence', channel, ...query })) as PresenceMessage;
      return { count, clients, next };
    }
    const params = new URLSearchParams(query as Record<string, string>);
    const body = await this.call<PresenceResponse>(`/api/channels/${encodeURIComponent(channel)}/presence?${params}`);
    return { count: body.count, clients: body.clients, next: body.next ?? undefined };
  }

  /** The run list over HTTP (`GET /api/runs`), newest first: only the runs the credentials may read. */
  async runs(query: RunListQuery = {}): Promise<RunListResponse> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    return this.call<RunListResponse>(`/api/runs${params.toString() ? `?${params}` : ''}`);
  }

  /**
   * Publishes one event: over the WebSocket when connected, otherwise over HTTP. The event is given an
   * idempotency id (unless it has its own), so when the connection drops before the hub answers, or
   * the hub is briefly unavailable, the client sends it again (up to `attempts` times in all) and the
   * hub stores it once: the answer then says `duplicate`.
   *
   * With `ephemeral: true` the event is fanned out to the channel's live subscribers and not stored (no
   * offset; subscribers get it as their `ephemeral` event): it is sent once, never retried — it is
   * worthless late — and given no id.
   */
  publish(channel: string, event: EventInput, options: { ephemeral: true }): Promise<{ ephemeral: true }>;
  publish(channel: string, event: EventInput, options?: { attempts?: number; ephemeral?: false }): Promise<{ offset: number; epoch: string; duplicate?: boolean }>;
  async publish(channel: string, event: EventInput, options: { attempts?: number; ephemeral?: boolean } = {}): Promise<any> {
    // Checked here, against the limit the hub announced, so an oversized event fails alone and at once.
    const max = this.maxMessageBytes;
    if (max !== undefined) {
      const text = JSON.stringify(event);
      // A UTF-16 length of n is at most 3n bytes of UTF-8: most events need no encoding to be checked.
      const size = text.length * 3 <= max ? 0 : new TextEncoder().encode(text).length;
      if (size > max) throw new HeraldError('too_large', `the event is ${size} bytes; the hub takes at most ${max}`);
    }
    const ephemeral = options.ephemeral === true;
    if (ephemeral) return this.publishOnce(channel, event, ephemeral);
    const sent: EventInput = event.id === undefined ? { ...event, id: eventId() } : event;
    const attempts = Math.max(1, options.attempts ?? 3);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.publishOnce(channel, sent, ephemeral);
      } catch (error) {
        if (attempt >= attempts || !worthRetrying(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt - 1, this.options.backoff, this.options.random)));
      }
    }
  }

  /**
   * Sends one event to one client id alone (over the WebSocket when connected, else HTTP): `delivered`
   * (written to its connection) or `queued` (it is away and gets it when it reconnects); rejects with
   * `unknown_client`. Not retried: a direct message has no idempotency id.
   */
  async send(clientId: string, event: EventInput): Promise<{ status: 'delivered' | 'queued' }> {
    const reply = this.overWebSocket()
      ? await this.command({ op: 'send', to: clientId, event })
      : await this.postJson<{ status: 'delivered' | 'queued' }>(`/api/clients/${encodeURIComponent(clientId)}/events`, event);
    return { status: reply.status };
  }

  /**
   * Asks whoever serves `channel` (another client's `serve`, a Python `serve`…) and resolves with its
   * reply's data: over the WebSocket when connected, else HTTP. Rejects with `no_responder`, `timeout`
   * or `responder_error` (the responder's sentence). Never sent twice: if the connection drops first it
   * rejects with `disconnected`, because the responder may already have acted on it.
   */
  async request<T = unknown>(channel: string, input: RequestInput, options: RequestOptions = {}): Promise<T> {
    const body = { type: input.type, data: input.data, timeoutMs: options.timeoutMs };
    const reply = this.overWebSocket()
      ? await this.command({ op: 'request', channel, ...body })
      : await this.postJson<{ data?: T }>(`/api/channels/${encodeURIComponent(channel)}/requests`, body);
    return reply.data;
  }

  /**
   * Answers the requests sent to `channel` (a name or a pattern) with `handler`: what it returns (or
   * resolves to) is the reply; a throw refuses the request with its message (`responder_error`). Needs
   * the WebSocket: it is announced on every connection, after each reconnect too. Returns the function
   * that stops serving.
   */
  serve<TData = any, TReply = unknown>(channel: string, handler: ServeHandler<TData, TReply>): () => void {
    return this.served.add(channel, handler);
  }

  private postJson<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  private overWebSocket(): boolean {
    return this.transport === 'websocket' && this.state === 'connected';
  }

  private async publishOnce(channel: string, event: EventInput, ephemeral: boolean): Promise<{ offset: number; epoch: string; duplicate?: boolean } | { ephemeral: true }> {
    if (this.overWebSocket()) {
      // `ephemeral: undefined` is left out of the frame: stored publishes look as they always did.
      const reply = await this.command({ op: 'publish', channel, event, ephemeral: ephemeral || undefined });
      return ephemeral ? { ephemeral } : { offset: reply.offset, epoch: reply.epoch, ...(reply.duplicate ? { duplicate: true } : {}) };
    }
    const body = await this.postJson<{ offsets: number[]; epoch: string }>(`/api/channels/${encodeURIComponent(channel)}/events${ephemeral ? '?ephemeral=true' : ''}`, event);
    return ephemeral ? { ephemeral } : { offset: body.offsets[0]!, epoch: body.epoch };
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
    this.openNext(generation, token);
  }

  /** The transports this client may use, in order of preference (those with an implementation). */
  private usable(): TransportName[] {
    const wanted = this.options.transports ?? ['websocket', 'sse', 'poll'];
    return wanted.filter((name) => (name === 'websocket' ? this.webSocketImpl() : name === 'sse' ? this.eventSourceImpl() : this.fetchImpl()) !== undefined);
  }

  /** Opens the most preferred transport that has not failed on this path. */
  private openNext(generation: number, token: string | undefined): void {
    const next = this.usable().find((name) => !this.failed.has(name));
    if (next === 'websocket') this.openWebSocket(generation, this.webSocketImpl()!, token);
    else if (next) void this.openFallback(generation, token, next);
    else this.scheduleReconnect(CloseCodes.internal.code, 'no transport available: pass a WebSocket or EventSource implementation');
  }

  /** Whether another usable transport comes after `name` (one that has not failed). */
  private hasFallbackAfter(name: TransportName): boolean {
    const usable = this.usable();
    return usable.slice(usable.indexOf(name) + 1).some((other) => !this.failed.has(other));
  }

  private openWebSocket(generation: number, WebSocketImpl: WebSocketConstructor, token: string | undefined): void {
    const ws = new WebSocketImpl(this.webSocketUrl());
    this.ws = ws;
    this.attachWebSocket(ws, generation, token, false);
  }

  private webSocketUrl(): string {
    // After the first hello, the id the hub gave: a reconnect is the same client (its direct messages wait for it).
    const id = this.options.clientId ?? this.clientId;
    const query = id ? `?clientId=${encodeURIComponent(id)}` : '';
    return `${this.baseUrl.replace(/^http/, 'ws')}/ws${query}`;
  }

  private attachWebSocket(ws: WebSocketLike, generation: number, token: string | undefined, greeted: boolean): void {
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
      // A socket that never got hello, while a fallback exists: refused or blocked on the way, or the hub is down.
      if (!greeted && shouldReconnect(event.code) && this.hasFallbackAfter('websocket')) void this.attemptFailed(generation, token, 'websocket', event.code);
      else this.scheduleReconnect(event.code, event.reason);
    };
    ws.onerror = () => {};
  }

  /**
   * A transport did not deliver. If the hub does not answer HTTP either, the hub is the problem: back off
   * and start again from the best transport. Otherwise the path is: try the next transport (WebSocket
   * gets a second try first — a restarting hub refuses upgrades for a moment too), still `connecting`.
   */
  private async attemptFailed(generation: number, token: string | undefined, name: TransportName, code: number): Promise<void> {
    const reachable = await this.checkHub();
    if (generation !== this.generation) return;
    if (reachable !== true) {
      this.failed.clear();
      this.websocketFailures = 0;
      this.scheduleReconnect(code === CloseCodes.heartbeatTimeout.code ? code : 1006, `hub unreachable: ${reachable}`);
      return;
    }
    if (name === 'websocket' && ++this.websocketFailures < 2) {
      const WebSocketImpl = this.webSocketImpl()!;
      this.retryTimer = setTimeout(() => generation === this.generation && this.openWebSocket(generation, WebSocketImpl, token), backoffDelay(0, this.options.backoff, this.options.random));
      return;
    }
    this.failed.add(name);
    this.openNext(generation, token);
  }

  /** `true` when the hub answers `/health` (and notes its heartbeat), else why not. */
  private async checkHub(): Promise<true | string> {
    try {
      const response = await this.fetchImpl()!(`${this.baseUrl}/health`, { cache: 'no-store' });
      if (!response.ok) return `health ${response.status}`;
      const heartbeatMs = ((await response.json()) as { heartbeatMs?: unknown }).heartbeatMs;
      if (typeof heartbeatMs === 'number' && heartbeatMs > 0) this.hubHeartbeatMs = heartbeatMs;
      return true;
    } catch (error) {
      return String(error);
    }
  }

  /** Receiving over SSE or long-poll, publishing over HTTP. */
  private async openFallback(generation: number, token: string | undefined, name: 'sse' | 'poll'): Promise<void> {
    // EventSource and fetch hide why a stream failed; a health check tells "hub down" apart from "path refused".
    const reachable = await this.checkHub();
    if (generation !== this.generation) return;
    if (reachable !== true) {
      // The hub itself is down: the transports were not the problem, so try the best one first next time.
      this.failed.clear();
      this.websocketFailures = 0;
      this.scheduleReconnect(1006, `hub unreachable: ${reachable}`);
      return;
    }
    this.useFallback(generation, token, name);
  }

  private useFallback(generation: number, token: string | undefined, name: 'sse' | 'poll'): void {
    this.fallback = name === 'sse' ? this.sseTransport(generation, token) : this.pollTransport(generation);
    this.transport = name;
    this.attempt = 0;
    // With nothing to receive there is nothing to wait for; otherwise connected once the transport delivers.
    if (this.subs.size === 0) this.setState('connected', { transport: name });
    for (const sub of this.subs.values()) this.startSubscription(sub);
    this.scheduleProbe(generation);
  }

  private sseTransport(generation: number, token: string | undefined): SseTransport {
    // EventSource cannot send headers: each stream opens with a short-lived ticket for the token.
    const ticket = token ? () => this.ticket() : undefined;
    return new SseTransport(this.baseUrl, this.eventSourceImpl()!, ticket, this.hubHeartbeatMs ?? this.heartbeatMs, {
      onStatus: (open) => {
        if (generation !== this.generation) return;
        if (open) this.setState('connected', { transport: 'sse' });
        else if (this.state === 'connected') this.setState('connecting');
      },
      onSilent: () => {
        if (generation !== this.generation || this.transport !== 'sse') return;
        // Heartbeats do not get through (a proxy buffering the stream): SSE fails on this path.
        this.leaveFallback();
        void this.attemptFailed(generation, token, 'sse', CloseCodes.heartbeatTimeout.code);
      },
    });
  }

  private pollTransport(generation: number): PollTransport {
    // Called as a plain function: a browser's fetch refuses to run as another object's method.
    const fetchImpl = this.fetchImpl()!;
    return new PollTransport(this.baseUrl, (input, init) => fetchImpl(input, init), () => this.authHeaders(), {
      onStatus: (open) => generation === this.generation && open && this.setState('connected', { transport: 'poll' }),
      onLost: (reason) => generation === this.generation && this.scheduleReconnect(1006, reason),
    });
  }

  private leaveFallback(): void {
    clearTimeout(this.probeTimer);
    this.fallback?.close();
    this.fallback = undefined;
    this.transport = undefined;
  }

  /** While on a fallback: probe the better transports every `websocketRetryMs`, without a change of state. */
  private scheduleProbe(generation: number): void {
    clearTimeout(this.probeTimer);
    const current = this.transport;
    if (!current || this.usable().indexOf(current) <= 0) return;
    this.probeTimer = setTimeout(() => void this.probe(generation), this.options.websocketRetryMs ?? 30_000);
  }

  private async probe(generation: number): Promise<void> {
    let token: string | undefined;
    try {
      token = await this.options.getToken?.();
    } catch {
      return this.scheduleProbe(generation);
    }
    const usable = this.usable();
    for (const name of usable.slice(0, usable.indexOf(this.transport!))) {
      if (generation !== this.generation) return;
      const switched = name === 'websocket' ? await this.probeWebSocket(generation, token) : name === 'sse' && (await this.probeSse(generation, token));
      if (switched || generation !== this.generation) return;
    }
    this.scheduleProbe(generation);
  }

  /** A WebSocket on the side; once it is greeted it replaces the fallback (true), else it is closed (false). */
  private probeWebSocket(generation: number, token: string | undefined): Promise<boolean> {
    const ws = new (this.webSocketImpl()!)(this.webSocketUrl());
    return new Promise((resolve) => {
      const give = (up: boolean) => {
        clearTimeout(timer);
        if (up) {
          ws.onclose = null;
          ws.close(CloseCodes.normal.code);
        }
        resolve(false);
      };
      const timer = setTimeout(() => give(true), 2 * (this.hubHeartbeatMs ?? this.heartbeatMs));
      ws.onopen = () => token && ws.send(JSON.stringify({ op: 'auth', token }));
      ws.onerror = () => {};
      ws.onclose = () => give(false);
      ws.onmessage = (event) => {
        const hello = messagesOfFrame(JSON.parse(String(event.data))).some((m) => m.op === 'hello');
        if (!hello) return;
        if (generation !== this.generation || !this.fallback) return give(true);
        clearTimeout(timer);
        // Switch: the fallback stops, the socket takes over and every subscription resumes from its position.
        this.leaveFallback();
        this.failed.delete('websocket');
        const adopted = ++this.generation;
        this.ws = ws;
        this.attachWebSocket(ws, adopted, token, false);
        ws.onmessage!(event);
        resolve(true);
      };
    });
  }

  /** An SSE stream on the side; once a heartbeat arrives through it, SSE replaces the poll fallback. */
  private probeSse(generation: number, token: string | undefined): Promise<boolean> {
    const sub = this.subs.values().next().value as Subscription<any> | undefined;
    const EventSourceImpl = this.eventSourceImpl();
    if (!sub || !EventSourceImpl) return Promise.resolve(false);
    return new Promise((resolve) => {
      let source: EventSourceLike | undefined;
      const timer = setTimeout(() => {
        source?.close();
        resolve(false);
      }, 2 * (this.hubHeartbeatMs ?? this.heartbeatMs));
      void (async () => {
        let ticket = '';
        try {
          if (token) ticket = `?ticket=${encodeURIComponent(await this.ticket())}`;
        } catch {
          return;
        }
        source = new EventSourceImpl(`${this.baseUrl}/api/channels/${encodeURIComponent(sub.channel)}/stream${ticket}`);
        source.addEventListener('heartbeat', () => {
          clearTimeout(timer);
          source!.close();
          if (generation !== this.generation || !this.fallback) return resolve(false);
          this.leaveFallback();
          this.failed.delete('sse');
          const adopted = ++this.generation;
          this.useFallback(adopted, token, 'sse');
          this.setState('connected', { transport: 'sse' });
          resolve(true);
        });
      })();
    });
  }

  private onHello(clientId: string, heartbeatMs: number): void {
    this.clientId = clientId;
    this.heartbeatMs = heartbeatMs;
    this.attempt = 0;
    this.failed.clear();
    this.websocketFailures = 0;
    this.transport = 'websocket';
    this.setState('connected', { transport: 'websocket' });
    for (const sub of this.subs.values()) this.startSubscription(sub);
    this.served.restore();
    clearInterval(this.watchdog);
    // Browsers hide WebSocket pings from scripts, so liveness is checked with the protocol's own ping.
    this.watchdog = setInterval(() => this.checkAlive(), Math.max(50, Math.floor(this.heartbeatMs / 2)));
  }

  /** The hub warned that the token expires soon: refresh in place (on failure the hub closes with 4004 and the reconnect gets a new token). */
  private async refreshToken(): Promise<void> {
    try {
      const token = await this.options.getToken?.();
      if (token) await this.command({ op: 'refresh', token });
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
    return (await this.call<{ ticket: string }>('/api/auth/ticket', { method: 'POST' })).ticket;
  }

  /** One HTTP call to the hub with the credentials; a refusal rejects with the hub's code. */
  private async call<T>(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<T> {
    const response = await (this.options.fetch ?? fetch)(`${this.baseUrl}${path}`, { ...init, headers: { ...init.headers, ...(await this.authHeaders()) } });
    const body = (await response.json()) as any;
    if (!response.ok) throw new HeraldError(body?.error?.code ?? 'internal', body?.error?.message ?? `HTTP ${response.status}`);
    return body as T;
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
      case 'ephemeral':
        // Once per connection too: each matching hub subscription hands it to its own subscriptions.
        for (const sub of this.subs.values()) if (sub.channel === message.channel || (sub.isPattern && matchesPattern(sub.channel, message.channel))) sub.deliverEphemeral(message);
        return;
      case 'subscribed':
        this.subs.get(message.channel)?.onSubscribed(message);
        break;
      case 'steps':
        this.subs.get(message.channel)?.onSteps(message);
        return;
      case 'join':
      case 'leave':
        this.subs.get(message.channel)?.onPresence(message);
        return;
      case 'expiring':
        void this.refreshToken();
        return;
      case 'direct':
        this.emit('direct', message);
        return;
      case 'request':
        void this.served.dispatch(message);
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
    if (this.fallback) {
      if (unsubscribeFirst) this.fallback.unsubscribe(sub);
      sub.sent(undefined, sub.resumeFrom());
      this.fallback.subscribe(sub);
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
    const sent = this.commandAll(commands);
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
    if (this.fallback) this.fallback.unsubscribe(sub);
    else if (this.state === 'connected') this.command({ op: 'unsubscribe', channel: sub.channel }).catch(() => {});
  }

  /** Sends several commands in one frame; undefined when not connected. */
  private commandAll(commands: Record<string, unknown>[]): Array<[number, Promise<any>]> | undefined {
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

  private command(command: Record<string, unknown>): Promise<any> {
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
    const retryInMs = backoffDelay(this.attempt, this.options.backoff, this.options.random);
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
    this.leaveFallback();
    for (const pending of this.pending.values()) pending.reject(new HeraldError('disconnected', 'the connection closed before the hub answered'));
    this.pending.clear();
    for (const sub of this.subs.values()) sub.setState('pending');
  }

  private webSocketImpl(): WebSocketConstructor | undefined {
    return this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  private fetchImpl(): typeof fetch | undefined {
    return this.options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
  }

  private eventSourceImpl(): EventSourceConstructor | undefined {
    return this.options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  }

  /** The one place where the connection state changes. */
  private setState(to: ConnectionState, details: Omit<StateChange, 'from' | 'to'> = {}): void {
    const from = this.state;
    // Connected over another transport (a probe succeeded) is a change too; anything else repeated is not.
    const switched = to === 'connected' && details.transport !== undefined && details.transport !== this.connectedOver;
    if (from === to && to !== 'disconnected' && !switched) return;
    if (to === 'connected') this.connectedOver = details.transport;
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
