#!/usr/bin/env node
// `npm pack` of @herald/cli: the dashboard is a private workspace (an app, not a library), so its built
// files travel inside this package as dashboard/, where `herald serve` looks when @herald/dashboard is not
// installed (src/serve.ts). `copy` runs in prepack after the dashboard is built; `remove` in postpack.
import { cpSync, existsSync, rmSync } from 'node:fs';

const built = new URL('../../dashboard/dist/', import.meta.url);
const bundled = new URL('../dashboard/', import.meta.url);

const action = process.argv[2];
if (action === 'copy') {
  if (!existsSync(new URL('index.html', built))) {
    console.error(`bundle-dashboard: no index.html in ${built.pathname}; build the dashboard first (npm run build)`);
    process.exit(1);
  }
  rmSync(bundled, { recursive: true, force: true });
  cpSync(built, bundled, { recursive: true });
} else if (action === 'remove') {
  rmSync(bundled, { recursive: true, force: true });
} else {
  console.error('usage: node scripts/bundle-dashboard.mjs copy|remove');
  process.exit(2);
}
