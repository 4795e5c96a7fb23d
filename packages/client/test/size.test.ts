import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { build } from 'esbuild';

// Was 10 KiB until issue 13 (presence, direct messages, ephemeral events, request/reply) grew the
// client to the edge of it; request/serve alone add about 0.5 KiB.
const BUDGET = 11 * 1024;

describe('client bundle', () => {
  it(`stays within ${BUDGET} bytes minified and gzipped, with no Node built-ins`, async () => {
    const result = await build({
      entryPoints: [new URL('../dist/index.js', import.meta.url).pathname],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.contents;
    const gzipped = gzipSync(code, { level: 9 }).length;
    console.log(`# @herald/client: ${code.length} bytes minified, ${gzipped} bytes min+gzip (budget ${BUDGET})`);
    assert.ok(gzipped <= BUDGET, `${gzipped} bytes is over the budget`);
    assert.doesNotMatch(Buffer.from(code).toString(), /require\("node:|from"node:/);
  });
});
