import { parseArgs } from 'node:util';
import { Defaults, parseAllowRule, type Grant } from '@herald/protocol';
import { KeyError, KeyStore, RedisKeyStore, redisHost, type KeyBook } from '@herald/server';

export const keysUsage = `Usage: herald keys <create|list|revoke> [options]

  herald keys create --name <name> --allow <rule> [--allow <rule>…]   prints the new key, once
  herald keys list [--json]
  herald keys revoke <name>                                           stops the key at once, also on open connections

  --allow   subscribe:<channel|pattern>, publish:<channel|pattern>, or admin (everything, including
            reset, stats and metrics). Patterns are checked honestly: subscribe:runs.team-a.> does
            not open runs.> or >.
  --data    the hub's data folder (default $HERALD_DATA, else ${Defaults.dataDir}); keys are stored
            there, hashed, in keys.db. A hub started with at least one key requires credentials.
  --redis   hubs that share a Redis (--redis, $HERALD_REDIS) share its keys: give the same Redis URL and
  --redis-prefix (default $HERALD_REDIS_PREFIX, else herald) to manage them there, for every hub at once.`;

/** `herald keys`: API keys for backends, CI and the CLI, kept hashed in the data folder. */
export async function keys(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      allow: { type: 'string', multiple: true },
      data: { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const [action, name] = positionals;
  if (values.help || action === undefined) return console.log(keysUsage), values.help ? 0 : 2;
  const dataDir = values.data ?? (process.env.HERALD_DATA || Defaults.dataDir);
  const redisUrl = values.redis ?? (process.env.HERALD_REDIS || undefined);
  const fail = (message: string) => (console.error(`herald keys: ${message}`), 2);
  // Redis when the hubs use one; else the data folder (`create: false`: reading makes no file).
  const open = async (create: boolean): Promise<KeyBook> =>
    redisUrl ? RedisKeyStore.connect(redisUrl, values['redis-prefix'] ?? (process.env.HERALD_REDIS_PREFIX || 'herald'), redisHost(redisUrl)) : new KeyStore(dataDir, create);
  let store: KeyBook | undefined;
  try {
    if (action === 'create') {
      if (!values.name) return fail('--name is required');
      const grant: Grant = { subscribe: [], publish: [], admin: false };
      for (const rule of values.allow ?? []) {
        const problem = parseAllowRule(rule, grant);
        if (problem) return fail(problem);
      }
      store = await open(true);
      const { key } = await store.create(values.name, grant);
      console.log(key);
      console.error(`herald keys: created "${values.name}" ${store.where} (${describe(grant)}). This is the only time the key is shown.`);
      return 0;
    }
    if (action === 'list') {
      store = await open(false);
      const list = await store.list();
      if (values.json) console.log(JSON.stringify(list.map((k) => ({ name: k.name, prefix: k.prefix, grant: k.grant, createdAt: new Date(k.createdAt).toISOString() }))));
      else if (list.length === 0) console.log(`no keys ${store.where}`);
      else for (const k of list) console.log(`${k.name.padEnd(24)} ${`${k.prefix}…`.padEnd(12)} ${new Date(k.createdAt).toISOString()}  ${describe(k.grant)}`);
      return 0;
    }
    if (action === 'revoke') {
      const target = name ?? values.name;
      if (!target) return fail('name the key to revoke: herald keys revoke <name>');
      store = await open(false);
      if (!(await store.revoke(target))) return fail(`no key named "${target}" ${store.where}`);
      console.error(`herald keys: revoked "${target}"; ${redisUrl ? 'every hub on that Redis drops' : 'a running hub drops'} it within a second, also from open connections.`);
      return 0;
    }
    return fail(`unknown action "${action}" (create, list, revoke)`);
  } catch (error) {
    if (error instanceof KeyError) return fail(error.message);
    throw error;
  } finally {
    await store?.close();
  }
}

function describe(grant: Grant): string {
  if (grant.admin) return 'admin';
  return [...grant.subscribe.map((c) => `subscribe:${c}`), ...grant.publish.map((c) => `publish:${c}`)].join(' ');
}
