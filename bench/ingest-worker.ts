/** Durable-ingest load: HTTP batch publishes as fast as acknowledgements come back. */
import * as hdr from 'hdr-histogram-js';
import { nowMs } from './lib/kinds.js';

process.on('message', async (m: { cmd: string; url: string; seconds: number; concurrency: number; batch: number; bytes: number; worker: number }) => {
  if (m.cmd !== 'ingest') return;
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const pad = 'x'.repeat(Math.max(0, m.bytes - 60));
  const end = nowMs() + m.seconds * 1000;
  const cpuBefore = process.cpuUsage();
  let acked = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: m.concurrency }, async (_, lane) => {
      const channel = `ingest.w${m.worker}-${lane}`;
      const body = JSON.stringify(Array.from({ length: m.batch }, (_, i) => ({ type: 'load', data: { i, pad } })));
      while (nowMs() < end) {
        const started = nowMs();
        const response = await fetch(`${m.url}/api/channels/${channel}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await response.arrayBuffer();
        if (response.status === 201) {
          acked += m.batch;
          histogram.recordValue(Math.max(1, Math.round((nowMs() - started) * 1000)));
        } else failed++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  process.send!({ cmd: 'ingested', acked, failed, cpuMicros: cpu.user + cpu.system, histogram: hdr.encodeIntoCompressedBase64(histogram) });
});
process.send!({ cmd: 'ready' });
