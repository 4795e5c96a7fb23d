#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { ConfigError } from '@herald/server';
import { serve, serveUsage } from './serve.js';

const USAGE = `herald — a real-time event hub with durable history

Usage:
  herald serve [options]     start the hub (HTTP API, WebSocket /ws and SSE on one port)
  herald help [command]      show help
  herald --version

Run 'herald help serve' for the hub's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      console.log(rest[0] === 'serve' ? serveUsage() : USAGE);
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
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))) {
      console.error(`herald: ${error.message}`);
      process.exitCode = 2;
      return;
    }
    console.error(error);
    process.exitCode = 1;
  },
);
