import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createPublisher } from '@herald/client/publisher';
import { SEVERITIES, type EventInput, type Severity } from '@herald/protocol';
import { apiKey, hubUrl, URL_OPTION } from './hub-url.js';

export const publishUsage = `Usage: herald publish <channel> [json|-] [--type t] [--severity s] [--ephemeral] [--url u] [--api-key k]

  json        the event ({"type":…}), or with --type its data
  -           read events from standard input, one JSON per line
  --type      event type (then json is the data)
  --severity  debug|info|success|warning|error
  --ephemeral fan the event out to live subscribers without storing it (no offset, not in history)
  --api-key   credential for hubs that require one (default $HERALD_API_KEY)`;

class UsageError extends Error {}

function toEvent(value: unknown, type: string | undefined, severity: Severity | undefined): EventInput {
  if (type !== undefined) return { type, ...(severity ? { severity } : {}), ...(value === undefined ? {} : { data: value }) };
  if (typeof value !== 'object' || value === null || typeof (value as { type?: unknown }).type !== 'string') {
    throw new UsageError('the JSON must be an event with a "type", or give --type and pass the data');
  }
  return severity ? { ...(value as EventInput), severity } : (value as EventInput);
}

/** `herald publish`: one event from the arguments, or a stream of them from standard input. */
export async function publish(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...URL_OPTION, type: { type: 'string' }, severity: { type: 'string' }, ephemeral: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) return console.log(publishUsage), 0;
  const [channel, json] = positionals;
  try {
    if (!channel) throw new UsageError('a channel is required');
    const severity = values.severity as Severity | undefined;
    if (severity !== undefined && !SEVERITIES.includes(severity)) throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}`);
    const url = hubUrl(values.url);
    const key = apiKey(values['api-key']);
    if (json === '-' && values.ephemeral) throw new UsageError('--ephemeral publishes the event given as an argument, not standard input (the stdin publisher queues and retries, which an ephemeral event must not get)');
    if (json === '-') return await publishStdin(url, key, channel, values.type, severity);
    let value: unknown;
    if (json !== undefined) {
      try {
        value = JSON.parse(json);
      } catch {
        throw new UsageError(`not valid JSON: ${json}`);
      }
    } else if (values.type === undefined) throw new UsageError('give the event as JSON, or at least --type');
    const events = Array.isArray(value) && values.type === undefined ? value.map((v) => toEvent(v, undefined, severity)) : [toEvent(value, values.type, severity)];
    const response = await fetch(`${url}/api/channels/${encodeURIComponent(channel)}/events${values.ephemeral ? '?ephemeral=true' : ''}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(events),
    });
    const body = (await response.json()) as { offsets?: number[]; count?: number; error?: { code: string; message: string } };
    if (!response.ok) {
      console.error(`herald: ${body.error?.code ?? response.status}: ${body.error?.message ?? 'refused'}`);
      return 1;
    }
    if (values.ephemeral) return console.log(`${channel} ephemeral ×${body.count}`), 0;
    console.log(`${channel} ${body.offsets!.map((o) => `#${o}`).join(' ')}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`herald publish: ${error.message}\n\n${publishUsage}`);
      return 2;
    }
    if (error instanceof TypeError) {
      console.error(`herald: cannot reach the hub at ${hubUrl(values.url)} (${String((error as { cause?: unknown }).cause ?? error.message)})`);
      return 1;
    }
    throw error;
  }
}

async function publishStdin(url: string, key: string | undefined, channel: string, type: string | undefined, severity: Severity | undefined): Promise<number> {
  let refused = 0;
  const publisher = createPublisher({ url, apiKey: key, onDrop: ({ reason }) => (refused++, console.error(`herald: refused: ${reason}`)) });
  let count = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    publisher.publish(channel, toEvent(JSON.parse(line), type, severity));
    count++;
  }
  await publisher.close();
  console.log(`${channel}: ${count - refused} events published${refused ? `, ${refused} refused` : ''}`);
  return refused ? 1 : 0;
}
