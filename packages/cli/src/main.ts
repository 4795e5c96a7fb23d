#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError, DataCorruptError, DataFolderInUseError } from '@herald/server';
import { publish, publishUsage } from './publish.js';
import { run, runUsage } from './run.js';
import { keys, keysUsage } from './keys.js';
import { serve, serveUsage } from './serve.js';
import { tail, tailUsage } from './tail.js';
import { token, tokenUsage } from './token.js';

const USAGE = `herald — a real-time event hub with durable history

Usage:
  herald serve [options]                 start the hub (HTTP API, WebSocket /ws and SSE on one port)
  herald publish <channel> [json|-]      publish events
  herald tail <channel|pattern>          follow events live in the terminal
  herald run [--channel runs.<id>] -- <command…>   run a command and publish it as a run
  herald keys create|list|revoke         API keys (stored hashed in the data folder)
  herald token --sub <name> …            mint a development JWT from the hub's secret
  herald help [command]                  show help
  herald --version

The client commands talk to --url, else $HERALD_URL, else http://127.0.0.1:7070, and send
--api-key, else $HERALD_API_KEY, when the hub requires credentials.
Run 'herald help <command>' for its options.`;

const USAGES: Record<string, () => string> = {
  serve: serveUsage,
  publish: () => publishUsage,
  tail: () => tailUsage,
  run: () => runUsage,
  keys: () => keysUsage,
  token: () => tokenUsage,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'publish':
      return publish(rest);
    case 'tail':
      return tail(rest);
    case 'run':
      return run(rest);
    case 'keys':
      return keys(rest);
    case 'token':
      return token(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      console.log(USAGES[rest[0] ?? '']?.() ?? USAGE);
      return 0;
    case '--version':
    case '-v': {
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return 0;
    }
    default:
      console.error(`herald: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve keeps running; the client commands end here, even if a socket or timer lingers.
    // Exit only after what was written to pipes has drained (process.exit would cut it off).
    if (process.argv[2] !== 'serve') process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    // Refusals to start are sentences for the operator, not crashes: no stack trace.
    const refusal = error instanceof ConfigError || error instanceof DataFolderInUseError || error instanceof DataCorruptError;
    if (refusal || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`herald: ${error.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
