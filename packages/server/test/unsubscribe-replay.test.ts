import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postEvents, startHub, type TestHub } from './support/hub.js';
import { TestClient } from './support/ws-client.js';

describe('unsubscribe during a replay', () => {
  let hub: TestHub;
  before(async () => {
    hub = await startHub();
    // 2 000 events of 8 KB: a 16 MB replay, far more than the socket buffers hold at once.
    for (let i = 0; i < 20; i++) await postEvents(hub.url, 'unsub.replay', Array.from({ length: 100 }, (_, k) => ({ type: 'e', data: { i, k, pad: 'x'.repeat(8000) } })));
  });
  after(() => hub.dispose());

  it('sends nothing of the replay after the unsubscribed reply', async () => {
    const client = await TestClient.connect(hub.url);
    const reply = await client.request({ op: 'subscribe', channel: 'unsub.replay', since: { offset: 0 } });
    assert.equal(reply.replayed, 2000);
    const unsubscribed = await client.request({ op: 'unsubscribe', channel: 'unsub.replay' });
    assert.equal(unsubscribed.op, 'unsubscribed');
    const at = client.messages.indexOf(unsubscribed);
    // Anything the replay was still sending would arrive within a few frames; a ping answered after them
    // shows the socket has delivered everything written before it.
    await client.request({ op: 'ping' });
    const after = client.messages.slice(at + 1).filter((m) => m.op === 'event');
    assert.equal(after.length, 0, `${after.length} replayed events after the unsubscribe`);
    assert.ok(client.events('unsub.replay').length < 2000, "the replay stopped part way");
    client.close();
  });
});
