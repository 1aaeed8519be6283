#!/usr/bin/env bash
# The Kubernetes API's OpenAPI document (swagger.json) of each supported minor version, from the
# k8s.io/kubernetes Go module (its api/openapi-spec folder), fetched once with `go mod download`
# into the Go module cache. Prints one line per version: `<version> <path of swagger.json>`.
# The tests validate every manifest the chart renders, and every injected pod, against them.
set -euo pipefail
# The oldest Kubernetes the chart supports (native sidecars: 1.29) and the newest.
VERSIONS=(1.29.15 1.36.2)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v go >/dev/null 2>&1; then
  echo "k8s-schemas.sh: Go is needed to fetch the Kubernetes OpenAPI documents (go mod download); none found on PATH" >&2
  exit 1
fi
mkdir -p "$root/.tools"
exec 9>"$root/.tools/k8s-schemas.lock"
flock 9
# Outside any module: `go mod download` of an explicit version needs no go.mod.
cd "${TMPDIR:-/tmp}"
for version in "${VERSIONS[@]}"; do
  dir="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$version" | sed -nE 's/^\s*"Dir": "(.*)",?$/\1/p')"
  spec="$dir/api/openapi-spec/swagger.json"
  if [ ! -f "$spec" ]; then
    echo "k8s-schemas.sh: no $spec after go mod download k8s.io/kubernetes@v$version" >&2
    exit 1
  fi
  echo "$version $spec"
done
