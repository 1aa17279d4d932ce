#!/usr/bin/env bash
# Build the Kubernetes test control plane (kube-apiserver, kubectl, etcd and,
# optionally, kube-controller-manager) from the Go module proxy and cache the
# binaries outside the repo, keyed by version. Idempotent: quick when cached.
#
#   scripts/build-k8s.sh            # build (or reuse) and print the bin dir
#   K8S_VERSION=v1.36.3 scripts/build-k8s.sh
#   BUILD_KCM=1 scripts/build-k8s.sh  # also kube-controller-manager
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
CACHE_ROOT="${REGISTRO_TOOLS_CACHE:-/root/.cache/registro-tools}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN="$OUT/bin"
BUILD_KCM="${BUILD_KCM:-0}"

wanted=(kube-apiserver kubectl etcd)
[[ "$BUILD_KCM" == 1 ]] && wanted+=(kube-controller-manager)

missing=()
for b in "${wanted[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build-k8s: Go is required (https://go.dev/dl)" >&2; exit 1; }
# GOFLAGS=-p=1 lowers peak memory (~2 GiB otherwise) at the cost of time.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org}"
mkdir -p "$BIN"
work="$(mktemp -d "$OUT/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log() { echo "build-k8s: $*" >&2; }

# --- Kubernetes: wrapper module with generated staging replaces -------------
build_kube() {
  local mod="$work/kube"
  mkdir -p "$mod"
  log "fetching k8s.io/kubernetes $K8S_VERSION go.mod"
  local upstream
  upstream="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local patch="${K8S_VERSION##*.}"
  local staging_version="v0.$minor.$patch"
  {
    echo "module registro.local/k8sbuild"
    echo
    grep -E '^go [0-9]' "$upstream"
    grep -E '^godebug ' "$upstream" || true
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # every staging module pinned at v0.0.0 upstream -> its published version
    awk '/^\t?k8s\.io\/[^ ]+ v0\.0\.0$/ {print $1}' "$upstream" | sed 's/^\t//' | sort -u |
      while read -r m; do echo "replace $m => $m $staging_version"; done
  } >"$mod/go.mod"
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$mod" && log "resolving modules" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$mod" && go mod download)
  local ldflags="-s -w"
  local v
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
  done
  local b
  for b in "${missing[@]}"; do
    [[ "$b" == etcd ]] && continue
    log "building $b $K8S_VERSION"
    (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b")
    mv "$BIN/$b.tmp" "$BIN/$b"
  done
}

# --- etcd: its own wrapper module (a dependency's replaces are ignored) -----
build_etcd() {
  local mod="$work/etcd"
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<GOMOD
module registro.local/etcdbuild

go 1.25

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$mod/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  (cd "$mod" && log "resolving etcd $ETCD_VERSION" && go mod tidy -e >/dev/null 2>&1 || true)
  log "building etcd $ETCD_VERSION"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

needs_kube=0
for b in "${missing[@]}"; do [[ "$b" != etcd ]] && needs_kube=1; done
[[ $needs_kube == 1 ]] && build_kube
[[ " ${missing[*]} " == *" etcd "* ]] && build_etcd

for b in "${wanted[@]}"; do [[ -x "$BIN/$b" ]] || { log "missing $b after build"; exit 1; }; done
echo "$BIN"
