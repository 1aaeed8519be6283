#!/usr/bin/env bash
# Idempotent set-up for a fresh clone: checks Node, installs npm dependencies when the lockfile
# changed. Quiet when there is nothing to do.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

node_major="$(node -p 'process.versions.node.split(".").map(Number).reduce((a, v, i) => i < 2 ? a * 1000 + v : a)')"
if [ "$node_major" -lt 20018 ]; then
  echo "AOS gateway needs Node >= 20.18 (found $(node --version))" >&2
  exit 1
fi

stamp=node_modules/.aos-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "installing npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
