import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIG_OPTIONS, configFromEnv, DEFAULT_CONFIG, parseSetting, redisHost, startServer, type HeraldConfig } from '@herald/server';

export function serveUsage(): string {
  const rows = CONFIG_OPTIONS.map((o) => {
    const fallback = DEFAULT_CONFIG[o.key];
    const shown = o.kind === 'flag' ? '' : ` (default ${fallback === '' ? 'none' : String(fallback)})`;
    return `  --${o.flag.padEnd(22)} ${o.env.padEnd(28)} ${o.description}${shown}`;
  });
  return `Usage: herald serve [options]\n\nEvery option can also be set by its environment variable; a flag wins over the variable.\n\n${rows.join('\n')}`;
}

/**
 * The dashboard's built files: in the monorepo the @herald/dashboard workspace (built by `npm run build`);
 * installed from the @herald/cli tarball, the copy `npm pack` puts in the package's dashboard/ folder
 * (scripts/bundle-dashboard.mjs). '' when neither has an index.html.
 */
function bundledDashboard(): string {
  const candidates: (() => string)[] = [
    () => join(dirname(createRequire(import.meta.url).resolve('@herald/dashboard/package.json')), 'dist'),
    () => fileURLToPath(new URL('../dashboard/', import.meta.url)),
  ];
  for (const candidate of candidates) {
    try {
      const dir = candidate();
      if (existsSync(join(dir, 'index.html'))) return dir;
    } catch {
      // not installed: try the next place
    }
  }
  return '';
}

/** `herald serve`: starts the hub and stops it gracefully on SIGINT/SIGTERM. */
export async function serve(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(serveUsage());
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(CONFIG_OPTIONS.map((o) => [o.flag, { type: o.kind === 'flag' ? ('boolean' as const) : ('string' as const) }])),
    strict: true,
    allowPositionals: false,
  });
  const config: Record<string, unknown> = { ...configFromEnv(process.env) };
  for (const spec of CONFIG_OPTIONS) {
    const text = values[spec.flag];
    if (typeof text === 'string') config[spec.key] = parseSetting(spec, text, `--${spec.flag}`);
    else if (typeof text === 'boolean') config[spec.key] = text;
  }
  if (config.dashboardDir === undefined) config.dashboardDir = bundledDashboard();
  const server = await startServer(config as Partial<HeraldConfig>);
  const where =
    server.config.store === 'sqlite'
      ? `sqlite in ${server.config.dataDir}`
      : server.config.store === 'redis'
        ? `redis at ${redisHost(server.config.redisUrl)}, prefix ${server.config.redisPrefix} (shared by every hub on it)`
        : 'memory (history is lost on exit)';
  console.log(`Herald hub listening on ${server.url}  (store: ${where})`);
  if (server.hub.access.required) {
    const how = [server.keys.size > 0 ? `${server.keys.size} API key${server.keys.size === 1 ? '' : 's'}` : '', server.config.jwtSecret || server.config.jwtPublicKey || server.config.jwksFile ? 'JWT' : ''].filter(Boolean).join(' and ');
    console.log(`  access:   credentials required (${how}); send Authorization: Bearer <key or token>`);
  } else {
    console.log(`  access:   OPEN — no API keys or JWT configured: anyone who can reach ${server.config.host} may read, publish and delete.`);
    console.log(`            Turn it on with: herald keys create --name admin --allow admin   (see docs/security.md)`);
  }
  if (server.config.dashboardDir && server.config.dashboardDir !== 'off') console.log(`  dashboard: ${server.url}/`);
  const bearer = server.hub.access.required ? ` -H "Authorization: Bearer $HERALD_API_KEY"` : '';
  console.log(`  publish:  curl${bearer} --json '{"type":"hello"}' ${server.url}/api/channels/demo/events`);
  console.log(`  watch:    curl${bearer} -N ${server.url}/api/channels/demo/stream`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal means "now": skip the graceful path.
      process.exit(130);
    }
    stopping = true;
    server.app.log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      server.app.log.error('graceful shutdown took too long; exiting');
      process.exit(1);
    }, server.config.shutdownTimeoutMs);
    deadline.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return 0;
}
