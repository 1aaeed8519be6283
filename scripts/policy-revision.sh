#!/usr/bin/env bash
# The revision of the default policy bundle, from its sources: every non-test .rego file under
# policies/aos and policies/data.json, sorted by path (relative to policies/, bytewise). Their
# `sha256sum` listing ("<hex>  <path>" lines) is hashed again; the revision is "sha256:" and the
# first 16 hex digits. test/policy-bundle.test.ts recomputes it the same way to catch a stale bundle.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../policies"
files="$( (find aos -type f -name '*.rego' ! -name '*_test.rego'; echo data.json) | LC_ALL=C sort)"
digest="$(printf '%s\n' "$files" | xargs -d '\n' sha256sum | sha256sum)"
echo "sha256:${digest:0:16}"
