/**
 * A load-generator process: holds many subscriber connections of one kind (herald, raw, socketio),
 * records publish→receive latency (from the timestamp in each payload) into an HDR histogram and, per
 * client, counts gaps and duplicates in the sequence numbers — constant memory per client. With several
 * publishers (`streams`), sequence `s` comes from publisher `s % streams`: only each publisher's own
 * messages have an order to keep, so each is checked on its own. Herald clients also check that channel
 * offsets arrive one by one (every stored event once, in order, whoever published it).
 */
import * as hdr from 'hdr-histogram-js';
import { io as socketIo, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { Kind } from './lib/kinds.js';
import { nowMs } from './lib/kinds.js';

interface Client {
  close(): void;
  pause(): void;
  reconnect(): Promise<void>;
  /** Last sequence received from each publisher (index `seq % streams`). */
  lastSeq: number[];
  lastOffset: number;
  epoch: string;
  lost: number;
  duplicates: number;
  /** Offsets skipped or repeated on the channel (Herald only): each must be the previous one plus 1. */
  offsetGaps: number;
  offsetRepeats: number;
}

const PAYLOAD = /"ts":([\d.]+),"seq":(\d+)/g;
const OFFSET = /"offset":(\d+),"epoch":"([0-9a-f]+)"/g;
let histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
let received = 0;
let measuring = true;
/** First sequence of the current window: late arrivals from an earlier (overloaded) window are ignored. */
let windowStart = 0;
/** Publishers of the current window, each with its own sequence (see the header). */
let streams = 1;
const clients: Client[] = [];
/** The first few offset gaps of the window, named, so that a failure says where it happened. */
const MAX_GAP_SAMPLES = 5;
let gapSamples: string[] = [];
/** Herald connections the hub closed (not the harness): they receive nothing more. */
let closedByServer = 0;
let closing = false;

/** Close, stop reading, and drop-then-reopen for a client on a plain `ws` socket (herald and raw kinds). */
const socketControls = (socket: () => WebSocket, reopen: () => Promise<void>) => ({
  close: () => socket().close(),
  pause: () => (socket() as unknown as { _socket: { pause(): void } })._socket.pause(),
  reconnect: () => {
    socket().close();
    return reopen();
  },
});

/** The per-client counters every kind shares: where it is, and what went missing. */
const counters = () => ({ lastSeq: [] as number[], lastOffset: 0, epoch: '', lost: 0, duplicates: 0, offsetGaps: 0, offsetRepeats: 0 });

/** The sequence publisher `stream` sent last at or before `seq`. */
const lastOfStream = (seq: number, stream: number) => seq - ((((seq - stream) % streams) + streams) % streams);

/**
 * How much of a frame the receivers read: its head, where every server's frame carries the send time and
 * sequence (raw `{"ts","seq",pad}`, Herald `{"op":"event",…,"offset","epoch","time","event":{"type","data":{"ts","seq",pad}}}`).
 * Constant work per frame whatever its size, the same for every server: the harness must not charge a
 * 16 KB payload's scan to one of them (it once scanned Herald's frames backwards for the last offset).
 */
const HEAD_CHARS = 320;

/** A frame's head as text (latin1: the head is ASCII, and decoding stops there). A JSON array (a batch) is read whole. */
function headOf(data: Buffer): string {
  return data[0] === 0x5b ? data.toString() : data.toString('latin1', 0, Math.min(HEAD_CHARS, data.length));
}

function record(client: Client, text: string): void {
  const now = nowMs();
  PAYLOAD.lastIndex = 0;
  for (let m = PAYLOAD.exec(text); m; m = PAYLOAD.exec(text)) recordOne(client, Number(m[1]), Number(m[2]), now);
}

function recordOne(client: Client, ts: number, seq: number, now: number): void {
  if (!measuring || seq < windowStart) return;
  const stream = seq % streams;
  const last = client.lastSeq[stream];
  if (last !== undefined && seq <= last) {
    client.duplicates++;
    return;
  }
  if (last !== undefined && seq > last + streams) client.lost += (seq - last) / streams - 1;
  client.lastSeq[stream] = seq;
  received++;
  histogram.recordValue(Math.max(1, Math.round((now - ts) * 1000)));
}

function heraldClient(url: string, localAddress: string, channel: string): Promise<Client> {
  let ws: WebSocket;
  let subscribed: () => void = () => {};
  const client: Client = {
    ...counters(),
    ...socketControls(() => ws, () => open(true)),
  };
  const open = (resume: boolean) =>
    new Promise<void>((resolve, reject) => {
      subscribed = resolve;
      ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, { localAddress, perMessageDeflate: false });
      ws.on('open', () => {
        const since = resume ? { since: { offset: client.lastOffset, epoch: client.epoch } } : {};
        ws.send(JSON.stringify({ op: 'subscribe', id: 1, channel, ...since }));
      });
      let waitingForReply = true;
      const socket = ws;
      ws.on('message', (data: Buffer) => {
        // Frames still arriving on a replaced socket are ignored, as the client SDK does by generation.
        if (socket !== ws) return;
        const text = headOf(data);
        // Only the first frames can be the reply; later ones skip the check (the harness must stay cheap).
        if (waitingForReply && text.includes('"op":"subscribed"')) {
          waitingForReply = false;
          const reply = JSON.parse(data.toString()) as { epoch: string; offset: number };
          if (!resume) [client.epoch, client.lastOffset] = [reply.epoch, reply.offset];
          subscribed();
        }
        // The last offset in the frame is all a resume needs (one event per frame: its head holds it).
        OFFSET.lastIndex = 0;
        let m: RegExpExecArray | null = null;
        for (let next = OFFSET.exec(text); next; next = OFFSET.exec(text)) m = next;
        if (m) {
          const offset = Number(m[1]);
          if (m[2] === client.epoch && offset !== client.lastOffset + 1) {
            if (offset <= client.lastOffset) client.offsetRepeats++;
            else {
              client.offsetGaps += offset - client.lastOffset - 1;
              if (gapSamples.length < MAX_GAP_SAMPLES) gapSamples.push(`${channel} on ${url}: offset ${client.lastOffset} → ${offset}`);
            }
          }
          [client.lastOffset, client.epoch] = [offset, m[2]!];
        }
        record(client, text);
      });
      // Closed by the hub (a slow consumer, for one): the client is gone for the rest of the run.
      ws.on('close', () => socket === ws && !closing && closedByServer++);
      ws.on('error', reject);
    });
  return open(false).then(() => client);
}

function rawClient(url: string, localAddress: string): Promise<Client> {
  let ws: WebSocket;
  const client: Client = {
    ...counters(),
    ...socketControls(() => ws, () => open()),
  };
  const open = () =>
    new Promise<void>((resolve, reject) => {
      ws = new WebSocket(`${url.replace('http', 'ws')}/?role=sub`, { localAddress, perMessageDeflate: false });
      ws.on('open', () => resolve());
      const socket = ws;
      ws.on('message', (data: Buffer) => socket === ws && record(client, headOf(data)));
      ws.on('error', reject);
    });
  return open().then(() => client);
}

function socketIoClient(url: string, localAddress: string): Promise<Client> {
  let socket: Socket;
  const client: Client = {
    ...counters(),
    close: () => socket.disconnect(),
    pause: () => ((socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } }).ws._socket.pause()),
    // Dropping the transport (not a clean disconnect) is what lets its connection-state recovery resume.
    reconnect: () =>
      new Promise<void>((resolve) => {
        socket.once('connect', () => resolve());
        socket.io.engine.close();
      }),
  };
  return new Promise((resolve, reject) => {
    socket = socketIo(url, { transports: ['websocket'], query: { role: 'sub' }, reconnectionDelay: 100, reconnectionDelayMax: 1000, localAddress } as never);
    // Socket.IO hands over the parsed object (its parse is its own cost): the fields are read from it.
    socket.on('event', (message: { ts: number; seq: number }) => recordOne(client, message.ts, message.seq, nowMs()));
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', reject);
  });
}

/** With `channels`, client `i` subscribes to `<channel>.<i % channels>` (Herald only), else all to `channel`. */
async function connect(kind: Kind, url: string, count: number, localAddress: string, channel: string, channels?: number): Promise<number> {
  let failed = 0;
  const BATCH = 250; // Opened in waves so that the accept queue is not flooded.
  for (let i = 0; i < count; i += BATCH) {
    const wave = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) =>
      (kind === 'herald' ? heraldClient(url, localAddress, channels ? `${channel}.${(i + j) % channels}` : channel) : kind === 'raw' ? rawClient(url, localAddress) : socketIoClient(url, localAddress)).then(
        (client) => void clients.push(client),
        () => void failed++,
      ),
    );
    await Promise.all(wave);
  }
  return failed;
}

process.on('message', async (message: any) => {
  switch (message.cmd) {
    case 'connect': {
      const failed = await connect(message.kind, message.url, message.count, message.localAddress, message.channel, message.channels);
      process.send!({ cmd: 'connected', count: clients.length, failed });
      break;
    }
    case 'reset':
      histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
      received = 0;
      measuring = true;
      windowStart = message.firstSeq;
      streams = message.streams ?? 1;
      gapSamples = [];
      for (const c of clients) {
        // Each publisher's first sequence of the window is the one expected next.
        c.lastSeq = Array.from({ length: streams }, (_, k) => lastOfStream(message.firstSeq + streams - 1, k) - streams);
        [c.lost, c.duplicates, c.offsetGaps, c.offsetRepeats] = [0, 0, 0, 0];
      }
      process.send!({ cmd: 'reset' });
      break;
    case 'report': {
      // Events never received at the end of the window are lost too.
      const missingAtEnd = (c: Client) => c.lastSeq.reduce((sum, last, k) => sum + Math.max(0, (lastOfStream(message.lastSeq, k) - last) / streams), 0);
      const counted = clients.filter((_, i) => !message.skip?.includes(i));
      const lost = counted.reduce((sum, c) => sum + c.lost + missingAtEnd(c), 0);
      const duplicates = clients.reduce((sum, c) => sum + c.duplicates, 0);
      const offsetGaps = counted.reduce((sum, c) => sum + c.offsetGaps, 0);
      const offsetRepeats = clients.reduce((sum, c) => sum + c.offsetRepeats, 0);
      // Clients that lost or doubled anything, so that a failure can name how many it touched.
      const clientsWrong = counted.filter((c) => c.lost + missingAtEnd(c) + c.duplicates + c.offsetGaps + c.offsetRepeats > 0).length;
      process.send!({ cmd: 'report', histogram: hdr.encodeIntoCompressedBase64(histogram), received, lost, duplicates, offsetGaps, offsetRepeats, clientsWrong, clients: counted.length, gapSamples, closedByServer });
      break;
    }
    case 'pause': {
      const indexes: number[] = [];
      for (let i = 0; i < Math.round(clients.length * message.fraction); i++) {
        clients[i]!.pause();
        indexes.push(i);
      }
      process.send!({ cmd: 'paused', indexes });
      break;
    }
    case 'storm': {
      const started = nowMs();
      // Like a real client, a reconnect that fails is tried again after a short, growing pause.
      const retrying = async (client: Client) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await client.reconnect();
          } catch (error) {
            if (attempt >= 20) throw error;
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(2000, 100 * 2 ** attempt)));
          }
        }
      };
      const results = await Promise.allSettled(clients.map(retrying));
      process.send!({ cmd: 'stormed', ms: nowMs() - started, failed: results.filter((r) => r.status === 'rejected').length });
      break;
    }
    case 'close':
      closing = true;
      for (const c of clients) c.close();
      setTimeout(() => process.exit(0), 200);
      break;
  }
});
process.send!({ cmd: 'ready' });
