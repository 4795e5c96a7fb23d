import { request as httpRequest, type ClientRequest } from 'node:http';
import { postEvents, request } from './hub.js';
import { spawnHub, type HubProcess } from './process.js';
import { TestClient, type Message } from './ws-client.js';

/** Three (or `count`) real `herald serve` processes on one Redis and prefix, each with its own data folder. */
export async function spawnCluster(dirs: () => string, redisUrl: string, prefix: string, extra: string[] = [], count = 3): Promise<HubProcess[]> {
  return Promise.all(Array.from({ length: count }, () => spawnHub(dirs(), ['--store', 'redis', '--redis', redisUrl, '--redis-prefix', prefix, ...extra])));
}

/** One event as a subscriber received it, whatever the transport. */
export interface Seen {
  channel: string;
  offset: number;
  epoch: string;
  id: string | undefined;
  data: unknown;
}

export function seenOf(message: Message): Seen {
  return { channel: message.channel, offset: message.offset, epoch: message.epoch, id: message.event.id, data: message.event.data };
}

/** A WebSocket subscriber whose subscribe was answered: its events so far, in arrival order. */
export interface WsWatcher {
  client: TestClient;
  reply: Message;
  seen(channel?: string): Seen[];
  /** Whether the hub closed the connection (it must not, in these tests). */
  isClosed(): boolean;
}

export async function watchWs(base: string, channel: string, extra: Record<string, unknown> = {}): Promise<WsWatcher> {
  const client = await TestClient.connect(base);
  let closed = false;
  void client.closed.then(() => (closed = true));
  const reply = await client.request({ op: 'subscribe', channel, ...extra });
  if (reply.op !== 'subscribed') throw new Error(`subscribe to ${channel} on ${base} was answered ${JSON.stringify(reply)}`);
  return { client, reply, seen: (c) => client.events(c).map(seenOf), isClosed: () => closed };
}

/** A raw Server-Sent Events reader (no EventSource: nothing reconnects or resumes behind the test's back). */
export interface SseWatcher {
  named: Array<{ event: string; data: any }>;
  seen(channel?: string): Seen[];
  isClosed(): boolean;
  close(): void;
}

export async function watchSse(base: string, channel: string, headers: Record<string, string> = {}): Promise<SseWatcher> {
  const named: Array<{ event: string; data: any }> = [];
  const events: Seen[] = [];
  let closed = false;
  let req: ClientRequest | undefined;
  await new Promise<void>((resolve, reject) => {
    req = httpRequest(`${base}/api/channels/${encodeURIComponent(channel)}/stream`, { agent: false, headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE ${channel} on ${base}: HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data === '') continue;
          const parsed = JSON.parse(data);
          if (event === 'message') events.push({ channel: parsed.channel, offset: parsed.offset, epoch: parsed.epoch, id: parsed.event.id, data: parsed.event.data });
          else {
            named.push({ event, data: parsed });
            if (event === 'subscribed') resolve();
          }
        }
      });
      res.on('close', () => (closed = true));
      res.on('error', () => (closed = true));
    });
    req.on('error', reject);
    req.end();
  });
  return { named, seen: (c) => events.filter((e) => c === undefined || e.channel === c), isClosed: () => closed, close: () => req?.destroy() };
}

/** What a publisher was told for one event. */
export interface Ack {
  channel: string;
  id: string;
  data: unknown;
  status: number;
  code?: string;
  offset?: number;
  epoch?: string;
  sentAt: number;
  answeredAt: number;
}

/** One HTTP publish of one event with an idempotency id, on a fresh connection. */
export async function publishOne(base: string, channel: string, id: string, data: unknown): Promise<Ack> {
  const sentAt = Date.now();
  const { status, json } = await postEvents(base, channel, { type: 'order', id, data });
  const answeredAt = Date.now();
  if (status === 201) return { channel, id, data, status, offset: json.offsets[0], epoch: json.epoch, sentAt, answeredAt };
  return { channel, id, data, status, code: json.error?.code, sentAt, answeredAt };
}

/** A channel's whole retained history, through one hub's HTTP API, page by page. */
export async function historyOf(base: string, channel: string): Promise<{ epoch: string; latest: number; events: Seen[] }> {
  const events: Seen[] = [];
  for (let since = 0; ; ) {
    const { status, text } = await request('GET', `${base}/api/channels/${encodeURIComponent(channel)}/events?since=${since}&limit=1000`);
    if (status !== 200) throw new Error(`history of ${channel} on ${base}: HTTP ${status} ${text}`);
    const page = JSON.parse(text);
    for (const e of page.events) events.push({ channel, offset: e.offset, epoch: e.epoch, id: e.event.id, data: e.event.data });
    if (page.events.length === 0 || page.next >= page.latest) return { epoch: page.epoch, latest: page.latest, events };
    since = page.next;
  }
}

/** 1, 2, … n. */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
