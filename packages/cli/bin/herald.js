#!/usr/bin/env node
// Committed, not built: npm links a package's bin while installing, before `prepare` has built dist/,
// and a bin that points into dist/ is then skipped (`npx herald` said "could not determine executable").
await import('../dist/main.js');
