import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createPublisher, type UploadedAttachment } from '@herald/client/publisher';
import { glob } from 'tinyglobby';
import { parseDuration } from '@herald/server';
import { notice } from './format.js';
import { apiKey, hubUrl, URL_OPTION } from './hub-url.js';

/** Most files one run attaches: a glob that matches a whole disk is a mistake, not a wish. */
const MAX_ATTACHED = 100;

export const runUsage = `Usage: herald run [--channel runs.<id>] [--title t] [--attach glob]… [--url u] [--api-key k] -- <command…>

  Runs a command and publishes it as a run: run.started, one log event per output line (stdout as info,
  stderr as warning), run.completed with the exit code and duration. Exits with the command's code.
  --channel         default runs.<command>-<time>
  --title           default the command line
  --attach          files to upload once the command ends (a glob, relative to the current folder, as
                    often as needed: --attach 'screenshots/*.png'); one log event references them all,
                    before run.completed. At most ${MAX_ATTACHED} files; a file the hub refuses is reported and skipped
  --flush-timeout   how long to keep retrying unsent events after the command ends (default 30s)`;

/** `herald run -- cmd`: wraps any command as a Herald run. */
export async function run(argv: string[]): Promise<number> {
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  const { values } = parseArgs({
    args: own,
    options: { ...URL_OPTION, channel: { type: 'string' }, title: { type: 'string' }, attach: { type: 'string', multiple: true }, 'flush-timeout': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return console.log(runUsage), 0;
  if (command.length === 0) {
    console.error(`herald run: give the command after --\n\n${runUsage}`);
    return 2;
  }
  const channel = values.channel ?? `runs.${basename(command[0]!).replace(/[^A-Za-z0-9_-]/g, '_')}-${Date.now().toString(36)}`;
  if (!/^runs\.[A-Za-z0-9_-]+$/.test(channel)) {
    console.error('herald run: --channel must be runs.<id>, the id made of [A-Za-z0-9_-]');
    return 2;
  }
  const flushTimeoutMs = values['flush-timeout'] === undefined ? 30_000 : parseDuration(values['flush-timeout']);
  if (flushTimeoutMs === undefined) {
    console.error('herald run: --flush-timeout takes a duration such as 500ms, 30s or 2m');
    return 2;
  }
  const publisher = createPublisher({ url: hubUrl(values.url), apiKey: apiKey(values['api-key']), onDrop: ({ reason }) => notice(`an event was refused: ${reason}`) });
  const title = values.title ?? command.join(' ');
  notice(`publishing to ${channel}`);
  const started = Date.now();
  publisher.publish(channel, { type: 'run.started', data: { title, labels: { host: hostname(), command: basename(command[0]!) } } });

  const child = spawn(command[0]!, command.slice(1), { stdio: ['inherit', 'pipe', 'pipe'] });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const pipe = (stream: NodeJS.ReadableStream, echo: NodeJS.WriteStream, severity: 'info' | 'warning') =>
    new Promise<void>((resolve) => {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => {
        echo.write(`${line}\n`);
        publisher.publish(channel, { type: 'log', severity, data: { message: line, stream: severity === 'info' ? 'stdout' : 'stderr' } });
      });
      lines.on('close', resolve);
    });
  const outputs = Promise.all([pipe(child.stdout, process.stdout, 'info'), pipe(child.stderr, process.stderr, 'warning')]);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.on('error', (error) => {
      notice(`could not start ${command[0]}: ${error.message}`);
      resolve([127, null]);
    });
    child.on('close', (c, s) => resolve([c, s]));
  });
  await outputs;
  const exitCode = code ?? (signal ? 128 + signalNumber(signal) : 1);
  if (values.attach?.length) await attachFiles(publisher, channel, values.attach);
  publisher.publish(channel, {
    type: 'run.completed',
    severity: exitCode === 0 ? 'success' : 'error',
    data: { status: exitCode === 0 ? 'succeeded' : signal ? 'cancelled' : 'failed', summary: { exitCode, signal, durationMs: Date.now() - started } },
  });
  if (!(await publisher.close({ timeoutMs: flushTimeoutMs }))) notice(`the hub did not take ${publisher.queued} events within ${flushTimeoutMs} ms; they are lost`);
  return exitCode;
}

/**
 * Uploads the files the globs match (after the command ended, so that it has written them all) and
 * publishes one log event that references them. Uploads go before the event: the event never names a
 * file the hub does not hold yet.
 */
async function attachFiles(publisher: ReturnType<typeof createPublisher>, channel: string, patterns: string[]): Promise<void> {
  const files = (await glob(patterns, { onlyFiles: true, dot: false, expandDirectories: false })).sort();
  if (files.length === 0) return void notice(`--attach matched no files (${patterns.join(', ')})`);
  if (files.length > MAX_ATTACHED) notice(`--attach matched ${files.length} files; attaching the first ${MAX_ATTACHED}`);
  const uploaded: UploadedAttachment[] = [];
  for (const file of files.slice(0, MAX_ATTACHED)) {
    try {
      uploaded.push(await publisher.upload(channel, file, { name: file }));
    } catch (error) {
      notice(`could not attach ${file}: ${(error as Error).message}`);
    }
  }
  if (uploaded.length === 0) return;
  const names = uploaded.map((u) => u.ref.name);
  publisher.publish(channel, { type: 'log', severity: 'info', data: { message: `attached ${names.length} file${names.length === 1 ? '' : 's'}: ${names.join(', ')}`, attachments: uploaded.map((u) => u.ref) } });
}

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 0;
}
