#!/usr/bin/env bash
# Build the Kubernetes test tools from the Go module proxy and cache the binaries
# outside the repo, keyed by version. Idempotent: quick when cached.
#
#   control plane (default):  etcd, kube-apiserver, kubectl   -> k8s-<version>/bin
#   BUILD_KCM=1:              + kube-controller-manager
#   BUILD_NODE=1:             the one-node cluster of tests/cluster as well:
#       kube-controller-manager, kube-scheduler, kubelet, kube-proxy -> k8s-<version>/bin
#       containerd, containerd-shim-runc-v2, ctr                     -> containerd-<version>/bin
#       coredns with only the plugins the cluster DNS needs          -> coredns-<version>/bin
#         (no `forward` plugin is compiled in: unknown names cannot leave the machine)
#       metrics-server (resource metrics for the HPA test)          -> metrics-server-<version>/bin
#
#   scripts/build-k8s.sh            # build (or reuse) and print the k8s bin dir
#   K8S_VERSION=v1.36.3 scripts/build-k8s.sh
#   BUILD_NODE=1 scripts/build-k8s.sh
#
# A lock file per cache directory keeps two builds of the same cache from racing.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
CACHE_ROOT="${REGISTRO_TOOLS_CACHE:-/root/.cache/registro-tools}"
OUT="$CACHE_ROOT/k8s-$K8S_VERSION"
BIN="$OUT/bin"
CTRD_BIN="$CACHE_ROOT/containerd-$CONTAINERD_VERSION/bin"
DNS_BIN="$CACHE_ROOT/coredns-$COREDNS_VERSION/bin"
MS_BIN="$CACHE_ROOT/metrics-server-$METRICS_SERVER_VERSION/bin"
BUILD_KCM="${BUILD_KCM:-0}"
BUILD_NODE="${BUILD_NODE:-0}"

wanted=(kube-apiserver kubectl etcd)
[[ "$BUILD_KCM" == 1 || "$BUILD_NODE" == 1 ]] && wanted+=(kube-controller-manager)
[[ "$BUILD_NODE" == 1 ]] && wanted+=(kube-scheduler kubelet kube-proxy)
ctrd_wanted=()
[[ "$BUILD_NODE" == 1 ]] && ctrd_wanted=(containerd containerd-shim-runc-v2 ctr)
dns_wanted=()
[[ "$BUILD_NODE" == 1 ]] && dns_wanted=(coredns)
ms_wanted=()
[[ "$BUILD_NODE" == 1 ]] && ms_wanted=(metrics-server)

all_present() {
  local dir="$1"; shift
  local b
  for b in "$@"; do [[ -x "$dir/$b" ]] || return 1; done
}
if all_present "$BIN" "${wanted[@]}" && all_present "$CTRD_BIN" "${ctrd_wanted[@]}" &&
   all_present "$DNS_BIN" "${dns_wanted[@]}" && all_present "$MS_BIN" "${ms_wanted[@]}"; then
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null || { echo "build-k8s: Go is required (https://go.dev/dl)" >&2; exit 1; }
# GOFLAGS=-p=1 lowers peak memory (~2 GiB otherwise) at the cost of time.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -buildvcs=false" GOPROXY="${GOPROXY:-https://proxy.golang.org}"
mkdir -p "$BIN"
exec 9>"$OUT/.build.lock"
flock 9  # a second build of this cache waits for the first, then finds the binaries
missing=()
for b in "${wanted[@]}"; do [[ -x "$BIN/$b" ]] || missing+=("$b"); done
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
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
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
  local pkgs=() b
  for b in "${missing[@]}"; do
    [[ "$b" == etcd ]] && continue
    pkgs+=("k8s.io/kubernetes/cmd/$b")
  done
  # one `go build` for all commands: the shared packages compile once
  log "building ${pkgs[*]##*/} $K8S_VERSION"
  mkdir -p "$work/out"
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}")
  for b in "${pkgs[@]##*/}"; do mv "$work/out/$b" "$BIN/$b"; done
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

# --- containerd 2.x: its go.mod has no replaces, so `go install` works ------
build_containerd() {
  all_present "$CTRD_BIN" "${ctrd_wanted[@]}" && return 0
  mkdir -p "$CTRD_BIN"
  log "building containerd $CONTAINERD_VERSION"
  local m=github.com/containerd/containerd/v2/cmd
  GOBIN="$work/ctrd" go install -trimpath -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    "$m/containerd@$CONTAINERD_VERSION" "$m/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$m/ctr@$CONTAINERD_VERSION"
  local b
  for b in "${ctrd_wanted[@]}"; do mv "$work/ctrd/$b" "$CTRD_BIN/$b"; done
}

# --- CoreDNS with a chosen plugin set (its own main, like an external-plugin build)
build_coredns() {
  all_present "$DNS_BIN" coredns && return 0
  local mod="$work/coredns"
  mkdir -p "$mod" "$DNS_BIN"
  cat >"$mod/go.mod" <<GOMOD
module registro.local/corednsbuild

go 1.26

require github.com/coredns/coredns $COREDNS_VERSION
GOMOD
  # bind/errors/log/health/ready/cache/kubernetes only: no forward, no upstream resolvers
  cat >"$mod/main.go" <<'GO'
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
GO
  (cd "$mod" && log "resolving coredns $COREDNS_VERSION" && go mod tidy -e >/dev/null 2>&1 || true)
  log "building coredns $COREDNS_VERSION"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$DNS_BIN/coredns.tmp" .)
  mv "$DNS_BIN/coredns.tmp" "$DNS_BIN/coredns"
}

# --- metrics-server: its go.mod has no replaces, so `go install` works -------
build_metrics_server() {
  all_present "$MS_BIN" metrics-server && return 0
  mkdir -p "$MS_BIN"
  log "building metrics-server $METRICS_SERVER_VERSION"
  # the version its own Makefile stamps (k8s.io/client-go/pkg/version)
  GOBIN="$work/ms" go install -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  mv "$work/ms/metrics-server" "$MS_BIN/metrics-server"
}

needs_kube=0
for b in "${missing[@]}"; do [[ "$b" != etcd ]] && needs_kube=1; done
[[ ${#ctrd_wanted[@]} -gt 0 ]] && build_containerd
[[ ${#dns_wanted[@]} -gt 0 ]] && build_coredns
[[ ${#ms_wanted[@]} -gt 0 ]] && build_metrics_server
[[ $needs_kube == 1 ]] && build_kube
[[ " ${missing[*]} " == *" etcd "* ]] && build_etcd

all_present "$BIN" "${wanted[@]}" || { log "missing binaries in $BIN after build"; exit 1; }
all_present "$CTRD_BIN" "${ctrd_wanted[@]}" || { log "missing containerd binaries"; exit 1; }
all_present "$DNS_BIN" "${dns_wanted[@]}" || { log "missing coredns"; exit 1; }
all_present "$MS_BIN" "${ms_wanted[@]}" || { log "missing metrics-server"; exit 1; }
echo "$BIN"
