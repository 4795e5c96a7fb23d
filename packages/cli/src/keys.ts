import { parseArgs } from 'node:util';
import { Defaults, parseAllowRule, type Grant } from '@herald/protocol';
import { KeyError, KeyStore } from '@herald/server';

export const keysUsage = `Usage: herald keys <create|list|revoke> [options]

  herald keys create --name <name> --allow <rule> [--allow <rule>…]   prints the new key, once
  herald keys list [--json]
  herald keys revoke <name>                                           stops the key at once, also on open connections

  --allow   subscribe:<channel|pattern>, publish:<channel|pattern>, or admin (everything, including
            reset, stats and metrics). Patterns are checked honestly: subscribe:runs.team-a.> does
            not open runs.> or >.
  --data    the hub's data folder (default $HERALD_DATA, else ${Defaults.dataDir}); keys are stored
            there, hashed, in keys.db. A hub started with at least one key requires credentials.`;

/** `herald keys`: API keys for backends, CI and the CLI, kept hashed in the data folder. */
export async function keys(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { name: { type: 'string' }, allow: { type: 'string', multiple: true }, data: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const [action, name] = positionals;
  if (values.help || action === undefined) return console.log(keysUsage), values.help ? 0 : 2;
  const dataDir = values.data ?? (process.env.HERALD_DATA || Defaults.dataDir);
  const fail = (message: string) => (console.error(`herald keys: ${message}`), 2);
  let store: KeyStore | undefined;
  try {
    if (action === 'create') {
      if (!values.name) return fail('--name is required');
      const grant: Grant = { subscribe: [], publish: [], admin: false };
      for (const rule of values.allow ?? []) {
        const problem = parseAllowRule(rule, grant);
        if (problem) return fail(problem);
      }
      store = new KeyStore(dataDir);
      const { key } = store.create(values.name, grant);
      console.log(key);
      console.error(`herald keys: created "${values.name}" in ${dataDir} (${describe(grant)}). This is the only time the key is shown.`);
      return 0;
    }
    if (action === 'list') {
      store = new KeyStore(dataDir, false);
      const list = store.list();
      if (values.json) console.log(JSON.stringify(list.map((k) => ({ name: k.name, prefix: k.prefix, grant: k.grant, createdAt: new Date(k.createdAt).toISOString() }))));
      else if (list.length === 0) console.log(`no keys in ${dataDir}`);
      else for (const k of list) console.log(`${k.name.padEnd(24)} ${`${k.prefix}…`.padEnd(12)} ${new Date(k.createdAt).toISOString()}  ${describe(k.grant)}`);
      return 0;
    }
    if (action === 'revoke') {
      const target = name ?? values.name;
      if (!target) return fail('name the key to revoke: herald keys revoke <name>');
      store = new KeyStore(dataDir, false);
      if (!store.revoke(target)) return fail(`no key named "${target}" in ${dataDir}`);
      console.error(`herald keys: revoked "${target}"; a running hub drops it within a second, also from open connections.`);
      return 0;
    }
    return fail(`unknown action "${action}" (create, list, revoke)`);
  } catch (error) {
    if (error instanceof KeyError) return fail(error.message);
    throw error;
  } finally {
    store?.close();
  }
}

function describe(grant: Grant): string {
  if (grant.admin) return 'admin';
  return [...grant.subscribe.map((c) => `subscribe:${c}`), ...grant.publish.map((c) => `publish:${c}`)].join(' ');
}
