import assert from 'node:assert/strict';
import { postEvents } from './hub.js';
import { TestClient } from './ws-client.js';

/**
 * A client subscribed throughout a hostile test: `mark()` publishes a numbered marker around each bit
 * of trouble, and `verify()` proves every marker arrived, in order — the hub neither crashed nor stalled.
 */
export class Bystander {
  private published = 0;

  private constructor(
    private readonly url: string,
    readonly client: TestClient,
  ) {}

  static async start(url: string, channel = 'bystander'): Promise<Bystander> {
    const client = await TestClient.connect(url);
    const reply = await client.request({ op: 'subscribe', channel });
    assert.equal(reply.op, 'subscribed');
    return new Bystander(url, client);
  }

  async mark(): Promise<void> {
    this.published++;
    const { status } = await postEvents(this.url, 'bystander', { type: 'marker', data: { n: this.published } });
    assert.equal(status, 201);
  }

  /** Publishes a last marker, checks that every marker arrived in order, and closes. */
  async verify(): Promise<void> {
    await this.mark();
    const events = await this.client.waitForEvents(this.published, 'bystander');
    assert.deepEqual(
      events.map((e) => e.event.data.n),
      Array.from({ length: this.published }, (_, i) => i + 1),
      'the bystander received every event, in order',
    );
    this.client.close();
  }
}
