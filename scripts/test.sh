#!/usr/bin/env bash
# The whole test suite from a fresh clone: set-up, then every tap test, then a smoke subset on Node 24
# (the container's runtime), then `N passed, N failed` over both. Extra arguments go to tap (e.g. a
# test file), and then the Node 24 smoke is left out.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/bootstrap.sh || exit 1
# CI runs everything: a tool a test needs that is missing there is an error, never a skip (the
# tests apply the same rule, test/tools.ts). Elsewhere those tests skip with the reason.
in_ci() { [ -n "${CI:-}" ]; }
# The pinned OPA CLI for the policy tests (the gateway itself never needs it).
if AOS_OPA="$(./scripts/opa.sh)"; then
  export AOS_OPA
elif in_ci; then
  echo "CI: the pinned OPA CLI is required (scripts/opa.sh failed)" >&2
  exit 1
else
  echo "warning: no OPA CLI (scripts/opa.sh failed), policy tests that need it will skip" >&2
fi
# The pinned Helm CLI and the Kubernetes API's OpenAPI documents for the chart and injector tests
# (test/k8s-*; both with `go install` / `go mod download`, cached after the first run).
for tool in helm.sh k8s-schemas.sh; do
  if ! ./scripts/$tool >/dev/null; then
    if in_ci; then echo "CI: scripts/$tool is required and failed" >&2; exit 1; fi
    echo "warning: scripts/$tool failed, the Kubernetes tests that need it will skip" >&2
  fi
done
# A real redis-server for the fleet budget tests (Debian package; CI is a fresh machine, as root).
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >&2 || echo "warning: could not install redis-server, Redis tests will skip" >&2
  else
    echo "warning: no redis-server (apt-get install redis-server), Redis tests will skip" >&2
  fi
  if in_ci && ! command -v redis-server >/dev/null 2>&1; then echo "CI: redis-server is required" >&2; exit 1; fi
fi
# A real PostgreSQL for the control plane tests (Debian package: initdb and pg_ctl under
# /usr/lib/postgresql/<version>/bin, which test/tools.ts also looks in).
have_postgres() { command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
if ! have_postgres; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2 || echo "warning: could not install postgresql, PostgreSQL tests will skip" >&2
  else
    echo "warning: no PostgreSQL (apt-get install postgresql), PostgreSQL tests will skip" >&2
  fi
  if in_ci && ! have_postgres; then echo "CI: PostgreSQL is required" >&2; exit 1; fi
fi
# Debian's chromium for the console's browser tests (Playwright drives it, never downloading one).
if [ ! -x "${AOS_CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (apt-get)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 || echo "warning: could not install chromium, the console browser tests will skip" >&2
  else
    echo "warning: no chromium (apt-get install chromium), the console browser tests will skip" >&2
  fi
  if in_ci && [ ! -x "${AOS_CHROMIUM:-/usr/bin/chromium}" ]; then echo "CI: chromium is required" >&2; exit 1; fi
fi
# A Node 24 binary for the tests that need Node >= 22 (the MCP conformance suite), as the Node 24
# smoke below prepares it (cached under .tools/node24).
node24="$(./scripts/node24-smoke.sh --runtime 2>/dev/null | tail -n 1)"
if [ -x "$node24" ]; then
  export AOS_NODE24="$node24"
elif in_ci; then
  echo "CI: a Node 24 binary is required (scripts/node24-smoke.sh --runtime failed)" >&2
  exit 1
else
  echo "warning: no Node 24 binary, the MCP conformance test will skip" >&2
fi
rm -rf .tap/test-results
if in_ci; then reporter=tap; else reporter=terse; fi
npx --no-install tap --reporter="${AOS_TAP_REPORTER:-$reporter}" "$@"
tap_status=$?
# The container's runtime: a smoke subset and `aos demo` on Node 24 (scripts/node24-smoke.sh), whose
# results land in .tap/test-results/node24 and count below. Left out when a file was named.
node24_status=0
if [ "$#" -eq 0 ]; then
  ./scripts/node24-smoke.sh
  node24_status=$?
fi
node scripts/tap-summary.mjs .tap/test-results
summary_status=$?
[ "$tap_status" -eq 0 ] && [ "$node24_status" -eq 0 ] && [ "$summary_status" -eq 0 ]
