#!/usr/bin/env bash
# pytest for `make test`, as three lanes at once:
# - cluster: the container images (`make images`), then the real-pods tier
#   (tests/cluster: one cluster, its tests in file order, test_zz_stop last);
# - checks: ruff and mypy (`make lint`), the web package's unit tests and tarball check
#   (npm test, npm run check:package), then, once the images are built, the image tests
#   and the web consumer apps' builds;
# - foreground: every other module on PYTEST_WORKERS xdist processes, each module whole
#   on one of them with its own services.
# Measured: the xdist lane 922 s, the cluster tier 689-1,004 s; run after the xdist lane,
# the checks added 220 s to it. The lanes mostly wait (pods, browsers, Redis,
# Prometheus), so on two cores they overlap. The other lanes' output follows the
# foreground's; the last line sums all.
set -uo pipefail
cd "$(dirname "$0")/.."
workers="${PYTEST_WORKERS:-2}"
late=(tests/delivery/test_images.py tests/web/test_consumers.py)
logs="$(mktemp -d /tmp/registro-pytest.XXXXXX)"
start=$(date +%s)
(
  scripts/phase.sh images make -s images >"$logs/images" 2>&1
  echo $? >"$logs/images.rc"  # the checks lane's image tests wait for this file
  .venv/bin/pytest tests/cluster -p no:cacheprovider --durations=10 "$@" >"$logs/cluster" 2>&1
  echo $? >"$logs/cluster.rc"
  echo "[phase] cluster lane (images, tests/cluster): $(( $(date +%s) - start )) s" \
    >"$logs/cluster-lane"
) &
background=$!
(
  scripts/phase.sh lint-and-types make -s lint >"$logs/lint" 2>&1
  echo $? >"$logs/lint.rc"
  scripts/phase.sh web-tests bash -c 'cd web && npm test && npm run check:package' \
    >"$logs/web" 2>&1
  echo $? >"$logs/web.rc"
  while [ ! -e "$logs/images.rc" ] && kill -0 "$background" 2>/dev/null; do sleep 2; done
  .venv/bin/pytest "${late[@]}" -p no:cacheprovider --durations=10 "$@" >"$logs/late" 2>&1
  echo $? >"$logs/late.rc"
  echo "[phase] checks lane (lint-and-types, web-tests, ${late[*]}): $(( $(date +%s) - start )) s" \
    >"$logs/checks"
) &
checks=$!
ignore=(--ignore=tests/cluster)
for module in "${late[@]}"; do ignore+=("--ignore=$module"); done
.venv/bin/pytest "${ignore[@]}" -n "$workers" --dist loadscope --durations=15 "$@" \
  | tee "$logs/main"
rc_main=${PIPESTATUS[0]}
echo "[phase] pytest (xdist lane): $(( $(date +%s) - start )) s"
wait "$checks"
cat "$logs/checks" 2>/dev/null
wait "$background"
cat "$logs/cluster-lane" 2>/dev/null
rc_lint=$(cat "$logs/lint.rc" 2>/dev/null || echo 1)
if [ "$rc_lint" = 0 ]; then grep -E '^\[phase\]|^All checks|^Success' "$logs/lint"; else cat "$logs/lint"; fi
rc_web=$(cat "$logs/web.rc" 2>/dev/null || echo 1)
if [ "$rc_web" = 0 ]; then
  grep -E '^\[phase\]|Tests .*passed|package ok' "$logs/web" | sed 's/\x1b\[[0-9;]*m//g'
else
  tail -n 80 "$logs/web"
fi
if grep -q '^\[phase\] images: [0-9]* s$' "$logs/images"; then  # built: the table only
  grep -E '^(\[phase\]|[a-z]+ +[^ ]+ +[0-9]+ MiB )' "$logs/images"
else
  tail -n 60 "$logs/images"
fi
cat "$logs/cluster" "$logs/late"
rc_cluster=$(cat "$logs/cluster.rc" 2>/dev/null || echo 1)
rc_late=$(cat "$logs/late.rc" 2>/dev/null || echo 1)
count() {  # count WORD FILE: from pytest's last summary line
  grep -E '(passed|failed|errors?|skipped|deselected).* in [0-9.]+s' "$2" | tail -n 1 \
    | grep -oE "[0-9]+ $1\b" | grep -oE '^[0-9]+' || echo 0
}
passed=0; failed=0; skipped=0
for f in "$logs/main" "$logs/cluster" "$logs/late"; do
  passed=$(( passed + $(count passed "$f") ))
  failed=$(( failed + $(count failed "$f") + $(count errors? "$f") ))
  skipped=$(( skipped + $(count skipped "$f") ))
done
rm -rf "$logs"
echo "[phase] pytest: $(( $(date +%s) - start )) s"
echo "pytest: $passed passed, $failed failed, $skipped skipped"
# 5: a lane whose tests PYTEST_ARGS all deselected
rcs=()
for rc in "$rc_main" "$rc_cluster" "$rc_late"; do
  [ "$rc" = 5 ] && rc=0
  rcs+=("$rc")
done
[ $(( passed + failed )) -gt 0 ] || { echo "no test ran" >&2; exit 5; }
exit $(( rcs[0] || rcs[1] || rcs[2] || rc_web || rc_lint ))
