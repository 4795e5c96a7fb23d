import { parseArgs } from 'node:util';
import { HeraldClient, type DeliveredEvent, type SubscribeOptions } from '@herald/client';
import { isPattern } from '@herald/protocol';
import { WebSocket } from 'ws';
import { formatEvent, formatEventJson, notice } from './format.js';
import { apiKey, hubUrl, URL_OPTION } from './hub-url.js';

export const tailUsage = `Usage: herald tail <channel|pattern> [--since N | --last N] [--json] [--url u] [--api-key k]

  Follows events live, resuming after hub restarts with no gap and no duplicate.
  --since N  first replay the events after offset N (exact channels; 0 = all history)
  --last N   first print the newest N stored events (1–1000; channels and patterns), then follow
  --json     one JSON object per line instead of coloured text
  --api-key  credential for hubs that require one (default $HERALD_API_KEY)

  Control characters in events (terminal escape sequences, carriage returns, bells) are printed as
  visible escapes such as \\x1b or \\u009b, never sent to the terminal.`;

/** `herald tail`: a live feed in the terminal until Ctrl-C. */
export async function tail(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...URL_OPTION, since: { type: 'string' }, last: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) return console.log(tailUsage), 0;
  const channel = positionals[0];
  if (!channel) {
    console.error(`herald tail: a channel or pattern is required\n\n${tailUsage}`);
    return 2;
  }
  if (values.since !== undefined && (!/^\d+$/.test(values.since) || isPattern(channel))) {
    console.error('herald tail: --since takes an offset (a whole number) and works on exact channels');
    return 2;
  }
  if (values.last !== undefined && (!/^\d+$/.test(values.last) || Number(values.last) < 1 || Number(values.last) > 1000 || values.since !== undefined)) {
    console.error('herald tail: --last takes a number of events from 1 to 1000, and not with --since');
    return 2;
  }
  const key = apiKey(values['api-key']);
  const client = new HeraldClient({ url: hubUrl(values.url), WebSocket, getToken: () => key });
  const print = (delivered: DeliveredEvent) => console.log(values.json ? formatEventJson(delivered) : formatEvent(delivered));
  let since: SubscribeOptions['since'] = values.since === undefined ? undefined : { offset: Number(values.since) };
  if (values.last !== undefined) {
    // The newest events first, oldest of them at the top, then live from exactly where they end.
    try {
      const page = await client.newest(channel, { limit: Number(values.last) });
      for (const delivered of [...page.events].reverse()) print(delivered);
      since = page.resumeFrom;
    } catch (error) {
      notice(`${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`);
      return 1;
    }
  }
  client.on('state', (change) => {
    if (change.to === 'connected') notice(`connected to ${client.url} (${change.transport})`);
    if (change.to === 'disconnected') notice(change.retryInMs === undefined ? `disconnected for good (${change.code} ${change.reason ?? ''})` : `connection lost; retrying in ${(change.retryInMs / 1000).toFixed(1)}s`);
  });
  const subscription = client.subscribe(channel, print, since === undefined ? {} : { since });
  subscription.on('reset', (info) => notice(`history for ${info.channel} no longer covers the gap (${info.reason}); some events were missed`));
  subscription.on('error', (error) => {
    notice(`${error.code}: ${error.message}`);
    process.exit(1);
  });
  client.connect();
  // Runs until Ctrl-C, or until the hub says "no" for good (credentials refused or revoked: 4401).
  const code = await new Promise<number>((resolve) => {
    const stop = () => resolve(0);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    client.on('state', (change) => {
      if (change.to === 'disconnected' && change.retryInMs === undefined) resolve(1);
    });
  });
  client.close();
  return code;
}
