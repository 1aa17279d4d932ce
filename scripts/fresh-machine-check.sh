#!/usr/bin/env bash
# Rehearse CI on a fresh machine, as closely as a used machine allows, then run
# `.ci/run` (= `make test`) in a fresh clone and print the time of each phase.
#
#   scripts/fresh-machine-check.sh          # cold: empty build caches of its own
#   scripts/fresh-machine-check.sh --warm   # warm: the machine's caches
#
# Cold points every build cache a new machine lacks at an empty directory of its own
# (REGISTRO_TOOLS_CACHE: Kubernetes binaries, Helm, kube-score, image archives; uv's,
# npm's and Go's caches; podman's image storage), so nothing of the machine's is moved
# or deleted and others can keep working. Debian packages stay installed (apt's own
# cache makes reinstalling them cheap anyway). Both modes undo what an earlier test run
# left (`python -m tests.support.cluster reclaim`: a killed test cluster's processes,
# mounts, bridge, routes and rules) and unmount /run/netns if it is a mount point, as it
# is not on a new machine or after a reboot (issue 18); that waits for a test cluster in
# use to stop. Run as root. The log is kept in /var/tmp/registro-rehearsal-*.log.
set -euo pipefail
mode=cold
[ "${1:-}" = --warm ] && mode=warm
repo="$(cd "$(dirname "$0")/.." && pwd)"
stamp="$(date +%Y%m%d-%H%M%S)"
log="/var/tmp/registro-rehearsal-$stamp.log"
clone="/var/tmp/registro-fresh-$stamp"
cold_root="/var/tmp/registro-cold-$stamp"
say() { echo "[rehearsal] $*"; }

say "stopping what earlier runs left (after any test cluster in use has stopped)"
if [ -x "$repo/.venv/bin/python" ]; then  # none: no run has been here either
  (cd "$repo" && .venv/bin/python -m tests.support.cluster reclaim --new-machine)
fi
others=$(pgrep -a -f 'redis-server|postgres|prometheus|chromedriver|celery|uvicorn|kube-apiserver' \
         | grep -v pgrep || true)
[ -z "$others" ] || { say "still running (not stopped, may slow the run):"; echo "$others"; }

if [ "$mode" = cold ]; then
  say "empty build caches of its own under $cold_root"
  mkdir -p "$cold_root"/{tools,uv,npm,gomod,gobuild,containers/graph,containers/run}
  printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "$cold_root/containers/graph" "$cold_root/containers/run" > "$cold_root/storage.conf"
  export REGISTRO_TOOLS_CACHE="$cold_root/tools" UV_CACHE_DIR="$cold_root/uv" \
    npm_config_cache="$cold_root/npm" GOMODCACHE="$cold_root/gomod" \
    GOCACHE="$cold_root/gobuild" CONTAINERS_STORAGE_CONF="$cold_root/storage.conf"
fi

say "fresh clone of $(git -C "$repo" rev-parse --short HEAD) in $clone ($mode run)"
git clone -q "$repo" "$clone"
start=$(date +%s)
set +e
(cd "$clone" && CI=true bash .ci/run) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
total=$(( $(date +%s) - start ))

echo
say "phases ($mode run):"
grep -E '^\[phase\]' "$log" || true
sed -n '/slowest [0-9]* durations/,/^$/p' "$log" | head -n 20 || true
grep -E '^(=+ .*(passed|failed).* =+|pytest: [0-9]+ passed.*)$' "$log" | tail -n 2 || true
say ".ci/run exit $rc, $(( total / 60 )) min $(( total % 60 )) s; log: $log"
rm -rf "$clone"
if [ "$mode" = cold ]; then
  CONTAINERS_STORAGE_CONF="$cold_root/storage.conf" podman system reset --force \
    >/dev/null 2>&1 || true
  chmod -R u+w "$cold_root" 2>/dev/null || true  # Go's module cache is read-only
  rm -rf "$cold_root"
fi
exit "$rc"
