#!/usr/bin/env bash
# Build kube-score (a third-party Kubernetes manifest scanner) from the Go module proxy
# and cache it outside the repo. It needs no network at run time.
# Usage: scripts/build-kube-score.sh       -> prints the path of the kube-score binary
# Env:   KUBE_SCORE_VERSION (default v1.20.0), REGISTRO_TOOLS_CACHE (default /root/.cache/registro-tools)
set -euo pipefail

KUBE_SCORE_VERSION="${KUBE_SCORE_VERSION:-v1.20.0}"
CACHE="${REGISTRO_TOOLS_CACHE:-/root/.cache/registro-tools}"
DEST="$CACHE/kube-score-$KUBE_SCORE_VERSION"
BIN="$DEST/kube-score"

# Bump STAMP when the build recipe changes, so cached binaries are rebuilt.
STAMP="recipe-1"
if [[ -x "$BIN" && "$(cat "$DEST/.stamp" 2>/dev/null)" == "$STAMP" ]]; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "build-kube-score: Go toolchain not found" >&2; exit 1; }

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# kube-score prints its version from these main-package variables (goreleaser sets them).
LDFLAGS="-s -w -X main.version=${KUBE_SCORE_VERSION#v} -X main.commit=go-module-proxy"
echo "build-kube-score: building kube-score ${KUBE_SCORE_VERSION}" >&2
(cd "$WORK" && GOBIN="$WORK/bin" CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go install -trimpath -ldflags "$LDFLAGS" \
    "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}") >&2

install -m 0755 "$WORK/bin/kube-score" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
echo "$STAMP" > "$DEST/.stamp"
"$BIN" version >&2
echo "$BIN"
