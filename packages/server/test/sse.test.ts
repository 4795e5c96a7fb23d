import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EventSource } from 'eventsource';
import { startServer } from '../src/index.js';
import { postEvents, startHub, tempDir } from './support/hub.js';

interface Received {
  offsets: number[];
  subscribed: Array<{ recovered?: boolean }>;
}

function watch(url: string): { source: EventSource; received: Received; until: (test: () => boolean) => Promise<void> } {
  const source = new EventSource(url);
  const received: Received = { offsets: [], subscribed: [] };
  let check = () => {};
  source.onmessage = (message) => {
    assert.equal(message.lastEventId, String(JSON.parse(message.data).offset));
    received.offsets.push(JSON.parse(message.data).offset);
    check();
  };
  source.addEventListener('subscribed', (message) => {
    received.subscribed.push(JSON.parse(message.data));
    check();
  });
  const until = (test: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; received ${JSON.stringify(received)}`)), 10_000);
      check = () => {
        if (test()) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
    });
  return { source, received, until };
}

describe('SSE stream', () => {
  it('replays from ?since, then streams live events with id: set to the offset', async () => {
    const hub = await startHub();
    try {
      await postEvents(hub.url, 's.live', [{ type: 'a' }, { type: 'b' }, { type: 'c' }]);
      const { source, received, until } = watch(`${hub.url}/api/channels/s.live/stream?since=1`);
      await until(() => received.offsets.length === 2);
      await postEvents(hub.url, 's.live', { type: 'd' });
      await until(() => received.offsets.length === 3);
      assert.deepEqual(received.offsets, [2, 3, 4]);
      source.close();
    } finally {
      await hub.dispose();
    }
  });

  it('resumes with Last-Event-ID after a hub restart: every event once, in order (eventsource npm client)', async () => {
    const dataDir = tempDir();
    let hub = await startServer({ port: 0, dataDir, logLevel: 'silent' });
    const port = hub.port;
    const { source, received, until } = watch(`${hub.url}/api/channels/s.resume/stream?since=0`);
    try {
      await postEvents(hub.url, 's.resume', [{ type: '1' }, { type: '2' }]);
      await until(() => received.offsets.length === 2);

      await hub.close();
      hub = await startServer({ port, dataDir, logLevel: 'silent' });
      await postEvents(hub.url, 's.resume', [{ type: '3' }, { type: '4' }]);
      await until(() => received.offsets.length >= 4 && received.subscribed.length >= 2);
      await postEvents(hub.url, 's.resume', { type: '5' });
      await until(() => received.offsets.length >= 5);

      assert.deepEqual(received.offsets, [1, 2, 3, 4, 5]);
      assert.equal(received.subscribed[1]!.recovered, true, 'the reconnect sent Last-Event-ID and the gap was filled');
    } finally {
      source.close();
      await hub.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('streams a pattern live, without ids', async () => {
    const hub = await startHub();
    try {
      const { source, received, until } = watch(`${hub.url}/api/channels/${encodeURIComponent('s.p.>')}/stream`);
      await until(() => received.subscribed.length === 1);
      const lines: string[] = [];
      source.onmessage = (m) => lines.push(`${JSON.parse(m.data).channel}|${m.lastEventId}`);
      await postEvents(hub.url, 's.p.one', { type: 'x' });
      await postEvents(hub.url, 's.p.two.deep', { type: 'y' });
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => lines.length === 2 && (clearInterval(timer), resolve()), 10);
      });
      assert.deepEqual(lines, ['s.p.one|', 's.p.two.deep|']);
      source.close();
    } finally {
      await hub.dispose();
    }
  });
});
