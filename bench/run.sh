#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --write]: every scenario against Herald, raw ws and Socket.IO.
set -euo pipefail
cd "$(dirname "$0")/.."
# As many file descriptors as this machine allows (each connection needs one on each side).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# The hub and its libraries (the dashboard is not needed here).
./node_modules/.bin/tsc -b packages/cli
exec node --expose-gc --import tsx bench/main.ts "$@"
