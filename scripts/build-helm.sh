#!/usr/bin/env bash
# Build Helm v3 from the Go module proxy and cache it outside the repo.
# Usage: scripts/build-helm.sh            -> prints the path of the helm binary
# Env:   HELM_VERSION (default v3.22.0), REGISTRO_TOOLS_CACHE (default /root/.cache/registro-tools)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${REGISTRO_TOOLS_CACHE:-/root/.cache/registro-tools}"
DEST="$CACHE/helm-$HELM_VERSION"
BIN="$DEST/helm"

if [[ -x "$BIN" ]] && "$BIN" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "build-helm: Go toolchain not found (need go >= 1.24)" >&2; exit 1; }

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

echo "build-helm: building helm ${HELM_VERSION} (a cold build takes several minutes)" >&2
# go install builds the module with its own go.mod (exact dependency versions).
if ! (cd "$WORK" && GOBIN="$WORK/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod \
        go install -trimpath -ldflags "$LDFLAGS" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}") >&2; then
    # Fallback: a wrapper module (needed if the module ever carries replace directives).
    echo "build-helm: go install failed, trying a wrapper module" >&2
    mkdir -p "$WORK/wrap" && cd "$WORK/wrap"
    go mod init registro.local/helm-build >&2
    go get "helm.sh/helm/v3@${HELM_VERSION}" >&2
    CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o "$WORK/bin/helm" helm.sh/helm/v3/cmd/helm >&2
fi

install -m 0755 "$WORK/bin/helm" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
"$BIN" version --short >&2
echo "$BIN"
