#!/usr/bin/env bash
# The pinned OPA CLI, for building and testing the Rego policies (not needed to run the gateway:
# the built bundle is committed). Installs it with `go install` into <repo>/.tools/bin when that
# folder does not already hold the pinned version; prints the binary's path on stdout.
set -euo pipefail
OPA_VERSION=1.22.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin/opa"

has_pinned() {
  # The output is read whole first: `opa version | grep -q` would let grep exit at the match, the
  # writer die of SIGPIPE, and pipefail fail the check on a good binary.
  local out
  [ -x "$bin" ] && out="$("$bin" version 2>/dev/null)" && grep -qx "Version: $OPA_VERSION" <<<"$out"
}

if ! has_pinned; then
  # One installer at a time: concurrent runs wait for the first, then reuse its binary.
  mkdir -p "$root/.tools/bin"
  exec 9>"$root/.tools/opa.lock"
  flock 9
  if ! has_pinned; then
    if ! command -v go >/dev/null 2>&1; then
      echo "opa.sh: Go is needed to install OPA $OPA_VERSION (go install); none found on PATH" >&2
      exit 1
    fi
    echo "installing OPA $OPA_VERSION (go install, a few minutes)…" >&2
    GOBIN="$root/.tools/bin" go install "github.com/open-policy-agent/opa@v$OPA_VERSION" >&2
    if ! has_pinned; then
      echo "opa.sh: $bin does not report version $OPA_VERSION after go install" >&2
      exit 1
    fi
  fi
  exec 9>&-
fi
echo "$bin"
