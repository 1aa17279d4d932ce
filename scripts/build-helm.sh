#!/usr/bin/env bash
# Build Helm v3 from the Go module proxy and cache it outside the repo.
# Usage: scripts/build-helm.sh            -> prints the path of the helm binary
# Env:   HELM_VERSION (default v3.22.0), REGISTRO_TOOLS_CACHE (default /root/.cache/registro-tools)
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${REGISTRO_TOOLS_CACHE:-/root/.cache/registro-tools}"
DEST="$CACHE/helm-$HELM_VERSION"
BIN="$DEST/helm"

# Bump STAMP when the build recipe changes, so cached binaries are rebuilt.
STAMP="recipe-2"
if [[ -x "$BIN" && "$(cat "$DEST/.stamp" 2>/dev/null)" == "$STAMP" ]] \
        && "$BIN" version --short 2>/dev/null | grep -q "^${HELM_VERSION}"; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "build-helm: Go toolchain not found (need go >= 1.24)" >&2; exit 1; }

# Helm's default Kubernetes version (used by `helm template` and lint) comes from
# the client-go it is built with, as Helm's own Makefile does: 1.(minor of v0.x).
GOMOD="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
CLIENT_GO="$(awk '$1 == "k8s.io/client-go" {print $2}' "$GOMOD")"
K8S_MINOR="$(echo "$CLIENT_GO" | cut -d. -f2)"
[[ -n "$K8S_MINOR" ]] || { echo "build-helm: cannot read k8s.io/client-go from $GOMOD" >&2; exit 1; }

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    LDFLAGS+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${K8S_MINOR}"
done

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
echo "$STAMP" > "$DEST/.stamp"
"$BIN" version --short >&2
echo "$BIN"
