import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CloseCodes, ErrorCodes } from '@herald/protocol';
import { CONFIG_OPTIONS } from '../src/index.js';

const doc = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

describe('docs match the code', () => {
  it('codes.md lists every error code with its HTTP status', () => {
    const text = doc('codes.md');
    for (const [code, info] of Object.entries(ErrorCodes)) assert.ok(text.includes(`| \`${code}\` | ${info.status} |`), `codes.md: ${code} ${info.status}`);
  });

  it('codes.md and protocol.md list every close code with its reconnect rule', () => {
    const codes = doc('codes.md');
    const protocol = doc('protocol.md');
    for (const [name, info] of Object.entries(CloseCodes)) {
      assert.ok(codes.includes(`| ${info.code} | \`${name}\` | ${info.reconnect ? 'yes' : 'no'} |`), `codes.md: ${info.code}`);
      assert.match(protocol, new RegExp(`^\\| ${info.code} \\| [^|]+ \\| ${info.reconnect ? 'yes' : 'no'} \\|`, 'm'), `protocol.md: ${info.code}`);
    }
  });

  it('config.md lists every setting with its flag and environment variable', () => {
    const text = doc('config.md');
    for (const option of CONFIG_OPTIONS) assert.ok(text.includes(`| \`--${option.flag}\` | \`${option.env}\` |`), `config.md: --${option.flag}`);
  });
});
