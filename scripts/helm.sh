#!/usr/bin/env bash
# The pinned Helm CLI, for linting and rendering the chart in helm/aos (not needed to run anything).
# Installs it with `go install` into <repo>/.tools/bin when that folder does not already hold the
# pinned version; prints the binary's path on stdout.
set -euo pipefail
HELM_VERSION=3.21.4
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin/helm"

has_pinned() {
  # Read whole first: `helm version | grep -q` could end the writer with SIGPIPE and fail pipefail.
  local out
  [ -x "$bin" ] && out="$("$bin" version --template '{{.Version}}' 2>/dev/null)" && [ "$out" = "v$HELM_VERSION" ]
}

if ! has_pinned; then
  # One installer at a time: concurrent runs wait for the first, then reuse its binary.
  mkdir -p "$root/.tools/bin"
  exec 9>"$root/.tools/helm.lock"
  flock 9
  if ! has_pinned; then
    if ! command -v go >/dev/null 2>&1; then
      echo "helm.sh: Go is needed to install Helm $HELM_VERSION (go install); none found on PATH" >&2
      exit 1
    fi
    echo "installing Helm $HELM_VERSION (go install, a few minutes)…" >&2
    # Stamped the way Helm's own Makefile does: its version, and the Kubernetes version it assumes
    # without a cluster (its client-go's, 1.36; unstamped it would be 1.20).
    ldflags="-X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
    for pkg in pkg/lint/rules pkg/chartutil; do
      ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=36"
    done
    GOBIN="$root/.tools/bin" go install -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2
    if ! has_pinned; then
      echo "helm.sh: $bin does not report version v$HELM_VERSION after go install" >&2
      exit 1
    fi
  fi
  exec 9>&-
fi
echo "$bin"
