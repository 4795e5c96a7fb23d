import { request as httpRequest, type ClientRequest } from 'node:http';

export interface SseMessage {
  event: string;
  data: any;
  id?: string;
}

/**
 * A bare Server-Sent Events reader for tests: records every message with its event name, data and `id:`
 * line, resolves `waitFor` as messages arrive, and exposes the HTTP status of a refused stream.
 */
export class SseReader {
  readonly messages: SseMessage[] = [];
  private buffer = '';
  private waiters: Array<{ test: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }> = [];
  private constructor(private readonly req: ClientRequest) {}

  /** Opens a stream; rejects with the status and body when the hub refuses it. */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { agent: false, headers }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => reject(Object.assign(new Error(`stream refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
          return;
        }
        const reader = new SseReader(req);
        res.on('data', (chunk: Buffer) => reader.receive(chunk.toString()));
        res.on('error', () => {});
        resolve(reader);
      });
      req.on('error', reject);
      req.end();
    });
  }

  waitFor(test: (m: SseMessage) => boolean, what = 'an SSE message', timeoutMs = 5000): Promise<SseMessage> {
    const seen = this.messages.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-5))}`)), timeoutMs);
      this.waiters.push({ test, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  named(event: string): SseMessage[] {
    return this.messages.filter((m) => m.event === event);
  }

  close(): void {
    this.req.destroy();
  }

  private receive(text: string): void {
    this.buffer += text;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const message: Partial<SseMessage> & { lines: string[] } = { event: 'message', lines: [] };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') message.event = value;
        else if (field === 'data') message.lines.push(value);
        else if (field === 'id') message.id = value;
      }
      if (message.lines.length === 0) continue; // `retry:` and comments
      const parsed: SseMessage = { event: message.event!, data: JSON.parse(message.lines.join('\n')), ...(message.id === undefined ? {} : { id: message.id }) };
      this.messages.push(parsed);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(parsed)) return true;
        w.resolve(parsed);
        return false;
      });
    }
  }
}
