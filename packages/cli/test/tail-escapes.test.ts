import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { postEvents, startHub, type TestHub } from '../../server/test/support/hub.js';
import { CLI, until } from '../../server/test/support/process.js';

/**
 * Events carry whatever their publisher wrote. These would clear the screen, retitle the window, write
 * the clipboard (OSC 52), overwrite the line, ring the bell or, in their 8-bit C1 form, do the same on
 * terminals that honour C1 — if `herald tail` passed them through.
 */
const HOSTILE = [
  { type: 'csi', data: { message: 'before\x1b[2J\x1b[31mred\x1b[0m after' } },
  { type: 'osc', data: { message: 'title\x1b]0;pwned\x07 clip\x1b]52;c;ZWNobyBoaQ==\x07 end' } },
  { type: 'c0', data: { message: 'cr\rbs\bbel\x07nul\x00tab\tnl\nnext del\x7f' } },
  { type: 'c1', data: { message: 'csi\u009b31m osc\u009d0;t\u009c nel\u0085' } },
  { type: 'separators', data: { message: 'ls\u2028ps\u2029rlo\u202eabc' } },
  { type: 'not-a-message', data: { nested: { text: 'x\x1b[1my\u009bz' } } },
  { type: 'type\x1b[5m', data: { message: 'in the type' } },
];

/** Visible text each hostile event must show in the human format, in the order above. */
const VISIBLE = [
  'before\\x1b[2J\\x1b[31mred\\x1b[0m after',
  'title\\x1b]0;pwned\\x07 clip\\x1b]52;c;ZWNobyBoaQ==\\x07 end',
  'cr\\rbs\\x08bel\\x07nul\\x00tab\\tnl\\nnext del\\x7f',
  'csi\\u009b31m osc\\u009d0;t\\u009c nel\\u0085',
  'ls\\u2028ps\\u2029rlo\\u202eabc',
  '{"nested":{"text":"x\\u001b[1my\\u009bz"}}',
  'type\\x1b[5m in the type',
];

/** Code points a terminal obeys rather than shows: C0 (newline and, under a pty, its CR aside), DEL, C1. */
function controlsIn(text: string, allowed: string): string[] {
  return [...text].filter((c) => /[\u0000-\u001f\u007f-\u009f]/.test(c) && !allowed.includes(c)).map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function assertNoRawBytes(bytes: Buffer, allowEscape = false): void {
  // No raw ESC, BEL or 8-bit CSI byte (the payloads hold no character whose UTF-8 form contains 0x9b).
  if (!allowEscape) assert.equal(bytes.indexOf(0x1b), -1, 'no raw ESC');
  assert.equal(bytes.indexOf(0x07), -1, 'no raw BEL');
  assert.equal(bytes.indexOf(0x9b), -1, 'no raw 0x9b');
}

/** Runs `herald tail` until the last hostile event is printed; returns the raw bytes of its standard output. */
async function tailOutput(command: string, args: string[], stop: NodeJS.Signals = 'SIGTERM'): Promise<Buffer> {
  const child = spawn(command, args, { env: { ...process.env, NO_COLOR: '' } });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const exited = new Promise((r) => child.on('close', r));
  try {
    const last = new RegExp(`hostile#${HOSTILE.length}|"offset":${HOSTILE.length},`);
    await until(() => last.test(Buffer.concat(chunks).toString()), 'the last event from herald tail');
    // Anything printed past the expected lines would show up here too.
    await new Promise((r) => setTimeout(r, 100));
    return Buffer.concat(chunks);
  } finally {
    child.kill(stop);
    await exited;
  }
}

describe('herald tail with hostile event text', () => {
  let hub: TestHub;

  before(async () => {
    hub = await startHub();
    const { status } = await postEvents(hub.url, 'hostile', HOSTILE);
    assert.equal(status, 201);
  });

  after(() => hub.dispose());

  it('prints control characters as visible escapes, one event per line', async () => {
    const bytes = await tailOutput(process.execPath, [CLI, 'tail', 'hostile', '--since', '0', '--url', hub.url]);
    assertNoRawBytes(bytes);
    const text = bytes.toString('utf8');
    assert.deepEqual(controlsIn(text, '\n'), []);
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, HOSTILE.length, 'no event broke its line');
    lines.forEach((line, i) => assert.ok(line.endsWith(VISIBLE[i]!), `line ${i + 1} shows ${VISIBLE[i]}\n  got: ${line}`));
  });

  it('prints --json lines that hold no control character and parse to the published events', async () => {
    const bytes = await tailOutput(process.execPath, [CLI, 'tail', 'hostile', '--since', '0', '--json', '--url', hub.url]);
    assertNoRawBytes(bytes);
    const text = bytes.toString('utf8');
    assert.deepEqual(controlsIn(text, '\n'), []);
    assert.ok(!/[\u2028\u2029\u202e]/.test(text), 'separators and bidi overrides are escaped too');
    assert.match(text, /\\u001b\[2J/);
    assert.match(text, /\\u009b31m/);
    const printed = text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    assert.deepEqual(printed.map((e) => ({ type: e.event.type, data: e.event.data })), HOSTILE);
  });

  const script = spawnSync('script', ['--version']).status === 0;
  it('keeps its own colours on a terminal and still escapes the events', { skip: !script && 'needs script(1) for a pseudo-terminal' }, async () => {
    const tail = [process.execPath, CLI, 'tail', 'hostile', '--since', '0', '--url', hub.url].map((a) => `'${a}'`).join(' ');
    // script(1) takes two seconds to end on SIGTERM; on SIGKILL the pty closes and tail gets SIGHUP.
    const bytes = await tailOutput('script', ['-qec', tail, '/dev/null'], 'SIGKILL');
    assertNoRawBytes(bytes, true);
    // The pty turns each newline into CR LF; every ESC that remains starts one of tail's colours.
    const text = bytes.toString('utf8').replaceAll('\r\n', '\n');
    assert.match(text, /\x1b\[35mhostile#1\x1b\[0m/, 'the channel is coloured');
    const withoutColours = text.replace(/\x1b\[\d+m/g, '');
    assert.deepEqual(controlsIn(withoutColours, '\n'), []);
    // Under a pty standard error shares the terminal: its notices (escaped as well) are not events.
    const lines = withoutColours.split('\n').filter((line) => line && !line.startsWith('herald: '));
    assert.equal(lines.length, HOSTILE.length, 'no event broke its line');
    lines.forEach((line, i) => assert.ok(line.endsWith(VISIBLE[i]!), `line ${i + 1} shows ${VISIBLE[i]}\n  got: ${line}`));
  });
});
