import { WebSocket } from 'ws';

export type Message = Record<string, any>;

/**
 * A bare protocol client for tests: records every message (array frames flattened), answers commands
 * by id, and exposes how the connection closed.
 */
export class TestClient {
  readonly messages: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<{ test: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString());
      for (const message of Array.isArray(parsed) ? parsed : [parsed]) this.receive(message);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(baseUrl: string, query = '', options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<TestClient> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws${query}`, options);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Tries an upgrade: `'open'` when it was accepted, else the HTTP status the hub refused it with. */
  static async upgradeStatus(baseUrl: string, headers: Record<string, string>): Promise<number | 'open'> {
    try {
      const client = await TestClient.connect(baseUrl, '', { headers });
      client.close();
      return 'open';
    } catch (error) {
      const status = /Unexpected server response: (\d+)/.exec(String(error))?.[1];
      if (status === undefined) throw error;
      return Number(status);
    }
  }

  /** Resolves with the first message (already received or future) that passes `test`. */
  waitFor(test: (m: Message) => boolean, what = 'a message', timeoutMs = 5000): Promise<Message> {
    const seen = this.messages.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-5))}`)), timeoutMs);
      this.waiters.push({ test, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** Sends a command with a fresh id and resolves with the reply carrying that id. */
  async request(command: Message): Promise<Message> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ ...command, id }));
    return this.waitFor((m) => m.id === id, `reply to ${command.op} #${id}`);
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  events(channel?: string): Message[] {
    return this.messages.filter((m) => m.op === 'event' && (channel === undefined || m.channel === channel));
  }

  /** Waits until `count` events (of `channel`, if given) have arrived. */
  async waitForEvents(count: number, channel?: string): Promise<Message[]> {
    await this.waitFor(() => this.events(channel).length >= count, `${count} events on ${channel ?? 'any channel'}`);
    return this.events(channel);
  }

  close(): void {
    this.ws.close();
  }

  private receive(message: Message): void {
    this.messages.push(message);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(message)) return true;
      w.resolve(message);
      return false;
    });
  }
}
