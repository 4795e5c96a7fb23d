import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { request, scratchDirs } from './support/hub.js';
import { spawnHub } from './support/process.js';
import { TestClient } from './support/ws-client.js';

const dirs = scratchDirs('herald-slowloris-');

/** A socket that trickles `text` one byte at a time, forever; resolves `closed` when the hub hangs up. */
function trickle(port: number, text: string): { socket: Socket; closedAt: Promise<number> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let at = 0;
  const timer = setInterval(() => {
    if (text.length > 0 && !socket.destroyed) socket.write(text[at++ % text.length]!);
  }, 500);
  const closedAt = new Promise<number>((resolve) => socket.on('close', () => (clearInterval(timer), resolve(Date.now()))));
  return { socket, closedAt };
}

/**
 * Slowloris: 1 000 connections that send their headers (or body, or upgrade) a byte at a time, or nothing
 * at all, must not hold the hub: each is closed within the header or request timeout, while a bystander
 * keeps getting every event and an SSE stream stays open past both timeouts.
 */
describe('slow and silent connections are closed', () => {
  it('1 000 slowloris connections are closed within the timeouts; a bystander and an SSE stream carry on', async () => {
    const hub = await spawnHub(dirs(), ['--headers-timeout', '2s', '--request-timeout', '3s']);
    try {
      const bystander = await TestClient.connect(hub.url);
      await bystander.request({ op: 'subscribe', channel: 'by' });
      const stream = await fetch(`${hub.url}/api/channels/by/stream`);
      assert.equal(stream.status, 200);
      const started = Date.now();
      const kinds = [
        '', // silent
        'GET /api/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', // slow headers
        'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nX-Slow: ', // slow upgrade
      ];
      const slow = Array.from({ length: 900 }, (_, i) => trickle(hub.port, kinds[i % kinds.length]!));
      // Slow bodies: complete headers, then a body that never finishes.
      const body = Array.from({ length: 100 }, () => {
        const t = trickle(hub.port, 'x');
        t.socket.write('POST /api/channels/by/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n');
        return t;
      });
      for (let i = 1; i <= 20; i++) {
        assert.equal((await request('POST', `${hub.url}/api/channels/by/events`, JSON.stringify({ type: 'tick', data: { i } }))).status, 201);
        await new Promise((r) => setTimeout(r, 100));
      }
      const headerClosed = await Promise.all(slow.map((s) => s.closedAt));
      const bodyClosed = await Promise.all(body.map((s) => s.closedAt));
      const headerWorst = Math.max(...headerClosed) - started;
      const bodyWorst = Math.max(...bodyClosed) - started;
      assert.ok(headerWorst < 2000 + 2500, `slow headers, upgrades and silent sockets closed after ${headerWorst} ms (timeout 2 s)`);
      assert.ok(bodyWorst < 3000 + 2500, `slow bodies closed after ${bodyWorst} ms (timeout 3 s)`);
      assert.deepEqual((await bystander.waitForEvents(20, 'by')).map((e) => e.offset), Array.from({ length: 20 }, (_, i) => i + 1));
      // The SSE stream outlived both timeouts: they bound receiving a request, not a long response.
      assert.equal((await request('POST', `${hub.url}/api/channels/by/events`, '{"type":"late"}')).status, 201);
      const reader = stream.body!.getReader();
      let text = '';
      while (!text.includes('"late"')) {
        const chunk = await reader.read();
        assert.ok(!chunk.done, `the SSE stream ended: ${text}`);
        text += new TextDecoder().decode(chunk.value);
      }
      await reader.cancel();
      bystander.close();
    } finally {
      await hub.kill();
    }
  });
});
