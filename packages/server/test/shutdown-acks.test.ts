import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getJson, scratchDirs } from './support/hub.js';
import { spawnHub } from './support/process.js';
import { TestClient } from './support/ws-client.js';

const dirs = scratchDirs('herald-shutdown-');

/**
 * A graceful stop while 8 clients publish over WebSocket as fast as they can: every event that is in the
 * history after the restart must have been acknowledged to its publisher before its connection closed
 * (the issue saw 574 committed publishes never acknowledged).
 */
describe('SIGTERM during publishing', () => {
  it('acknowledges every committed publish before closing the connections', async () => {
    const dir = dirs();
    // As fast as it can, on purpose: the rate limits (machine-speed dependent here) are not what this tests.
    const hub = await spawnHub(dir, ['--max-events-per-second', '0', '--max-ip-events-per-second', '0']);
    const acked = new Set<string>();
    const publishers = await Promise.all(Array.from({ length: 8 }, () => TestClient.connect(hub.url)));
    let stopping = false;
    const loops = publishers.map(async (client, p) => {
      await client.waitFor((m) => m.op === 'hello');
      let n = 0;
      let inFlight = 0;
      const closed = client.closed.then(() => (stopping = true));
      void closed;
      while (!stopping) {
        // Keep 20 publishes in flight per connection, as a busy publisher would.
        while (inFlight < 20 && !stopping) {
          const id = `p${p}-${n++}`;
          inFlight++;
          client
            .request({ op: 'publish', channel: `shutdown.${p}`, event: { type: 'tick', id } })
            .then((reply) => {
              if (reply.op === 'published') acked.add(id);
            }, () => {})
            .finally(() => inFlight--);
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    });
    await new Promise((r) => setTimeout(r, 500));
    hub.child.kill('SIGTERM');
    const exit = await hub.exited;
    stopping = true;
    await Promise.all(loops);
    assert.equal(exit.code, 0, 'the hub stopped gracefully');
    for (const client of publishers) assert.equal((await client.closed).code, 1012);

    const again = await spawnHub(dir);
    try {
      const stored: string[] = [];
      for (let p = 0; p < 8; p++) {
        for (let since = 0; ; ) {
          const page = (await getJson(`${again.url}/api/channels/shutdown.${p}/events?since=${since}&limit=1000`)).json;
          stored.push(...page.events.map((e: any) => e.event.id));
          if (page.events.length === 0) break;
          since = page.next;
        }
      }
      assert.ok(stored.length > 100, `only ${stored.length} events were published before the stop`);
      const unacknowledged = stored.filter((id) => !acked.has(id));
      assert.deepEqual(unacknowledged.slice(0, 10), [], `${unacknowledged.length} of ${stored.length} committed events were never acknowledged`);
    } finally {
      await again.kill();
    }
  });
});
