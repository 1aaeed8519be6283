#!/usr/bin/env bash
# npm run policy:build — compiles the default policy (policies/aos + policies/data.json) to Wasm,
# entrypoint aos/decision, into policies/bundle.tar.gz (committed: the gateway runs without Go/OPA).
# The revision is derived from the sources (scripts/policy-revision.sh), so the same sources always
# give the same revision and a stale bundle is detectable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
opa="${AOS_OPA:-$("$root/scripts/opa.sh")}"
revision="$("$root/scripts/policy-revision.sh")"
cd "$root/policies"
tmp="$(mktemp bundle.XXXXXX.tar.gz)"
trap 'rm -f "$tmp"' EXIT
"$opa" build -t wasm -e aos/decision --revision "$revision" --ignore '*_test.rego' -o "$tmp" aos data.json
listing="$(tar -P -tzf "$tmp")"
for required in /policy.wasm /data.json /.manifest; do
  if ! grep -qx -- "$required" <<<"$listing"; then
    echo "policy-build: $required missing from the built bundle" >&2
    exit 1
  fi
done
if grep -q '_test\.rego$' <<<"$listing"; then
  echo "policy-build: test files leaked into the bundle" >&2
  exit 1
fi
chmod 644 "$tmp"
mv "$tmp" bundle.tar.gz
echo "policies/bundle.tar.gz: revision $revision" >&2
