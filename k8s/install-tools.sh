#!/usr/bin/env bash
# Installs the Kubernetes tooling of this repository into .devstack/tools/bin (ignored by
# git): helm, built from source through the Go module proxy, because no chart or binary
# registry is reachable from our machines. `make test` runs it first (the offline chart
# tests need helm); the Tiltfile and docs/kubernetes.md use the same binary.
#
# Idempotent: a helm of the pinned version already in place is kept (the build takes about
# 3.5 minutes on 2 cores). Set LEADERBOARD_K8S_TOOLS_DIR to share one tools folder between
# clones. Needs Go 1.25 or newer.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${LEADERBOARD_K8S_TOOLS_DIR:-$ROOT/.devstack/tools}"
BIN="$TOOLS/bin"

installed_version() {
    "$BIN/helm" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ -x "$BIN/helm" && "$(installed_version)" == "$HELM_VERSION" ]]; then
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "install-tools: building helm $HELM_VERSION needs the Go toolchain (go) on PATH" >&2
    exit 1
fi

mkdir -p "$BIN"
STAGING="$(mktemp -d "$TOOLS/build.XXXXXX")"
trap 'chmod -R u+w "$STAGING" 2>/dev/null; rm -rf "$STAGING"' EXIT

echo "install-tools: building helm $HELM_VERSION from the Go module proxy (a few minutes)" >&2
started=$SECONDS
# The module and build caches live in the staging folder and go with it: only the binary
# is kept. The version is stamped in, as the release builds do, so `helm version` is exact.
env GOPATH="$STAGING/gopath" GOMODCACHE="$STAGING/gopath/pkg/mod" GOCACHE="$STAGING/cache" \
    GOBIN="$STAGING/bin" GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 \
    go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION" \
    2> >(grep -v '^go: downloading ' >&2)
mv -f "$STAGING/bin/helm" "$BIN/helm"
echo "install-tools: helm $(installed_version) installed in $BIN ($((SECONDS - started)) s)" >&2
