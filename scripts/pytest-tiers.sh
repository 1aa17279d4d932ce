#!/usr/bin/env bash
# pytest for `make test`, as three lanes at once:
# - cluster: the container images (`make images`) and, alongside, the real-pods tier
#   (tests/cluster: one cluster; the tests that need no release run during the build,
#   the install waits for it; test_zz_stop last);
# - checks: ruff and mypy (`make lint`), the web package's unit tests and tarball check
#   (npm test, npm run check:package), two long modules that mostly wait (below), then,
#   once the images are built, the image tests and the web consumer apps' builds;
# - foreground: every other module on PYTEST_WORKERS xdist processes, each module whole
#   on one of them with its own services.
# Measured (warm, the four app images rebuilt): the xdist lane 732 s, the checks lane
# 691 s, the cluster lane 884 s (the build 211 s of it). Three xdist workers made the
# xdist lane slower (1,075 s against about 900 s then): the two cores are the limit. The other lanes' output follows the foreground's; the last
# line sums all.
set -uo pipefail
cd "$(dirname "$0")/.."
workers="${PYTEST_WORKERS:-2}"
late=(tests/delivery/test_images.py tests/web/test_consumers.py)
# Long modules that mostly wait (Prometheus rules firing, refresh schedules and budget
# windows): the checks lane has room for them, the xdist lane is the longest.
aside=(tests/delivery/test_monitoring.py tests/pipeline/test_refresh_stack.py)
logs="$(mktemp -d /tmp/registro-pytest.XXXXXX)"
start=$(date +%s)
(
  (
    scripts/phase.sh images make -s images >"$logs/images" 2>&1
    # the checks lane's image tests and the cluster tier's install wait for this file
    echo $? >"$logs/images.part" && mv "$logs/images.part" "$logs/images.rc"
  ) &
  # The cluster starts, imports the stand-in images and runs its release-free tests
  # while this commit's images build, importing each as the log reports it done
  # (tests/cluster/conftest.py, tests/support/release.py).
  REGISTRO_IMAGES_BUILD_RC="$logs/images.rc" REGISTRO_IMAGES_BUILD_LOG="$logs/images" \
    .venv/bin/pytest tests/cluster -p no:cacheprovider --durations=10 "$@" >"$logs/cluster" 2>&1
  echo $? >"$logs/cluster.rc"
  wait
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
  .venv/bin/pytest "${aside[@]}" -p no:cacheprovider --durations=10 "$@" >"$logs/aside" 2>&1
  echo $? >"$logs/aside.rc"
  while [ ! -e "$logs/images.rc" ] && kill -0 "$background" 2>/dev/null; do sleep 2; done
  .venv/bin/pytest "${late[@]}" -p no:cacheprovider --durations=10 "$@" >"$logs/late" 2>&1
  echo $? >"$logs/late.rc"
  echo "[phase] checks lane (lint-and-types, web-tests, ${aside[*]}, ${late[*]}):" \
    "$(( $(date +%s) - start )) s" \
    >"$logs/checks"
) &
checks=$!
ignore=(--ignore=tests/cluster)
for module in "${late[@]}" "${aside[@]}"; do ignore+=("--ignore=$module"); done
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
cat "$logs/cluster" "$logs/aside" "$logs/late"
rc_cluster=$(cat "$logs/cluster.rc" 2>/dev/null || echo 1)
rc_late=$(cat "$logs/late.rc" 2>/dev/null || echo 1)
rc_aside=$(cat "$logs/aside.rc" 2>/dev/null || echo 1)
count() {  # count WORD FILE: from pytest's last summary line
  grep -E '(passed|failed|errors?|skipped|deselected).* in [0-9.]+s' "$2" | tail -n 1 \
    | grep -oE "[0-9]+ $1\b" | grep -oE '^[0-9]+' || echo 0
}
passed=0; failed=0; skipped=0
for f in "$logs/main" "$logs/cluster" "$logs/aside" "$logs/late"; do
  passed=$(( passed + $(count passed "$f") ))
  failed=$(( failed + $(count failed "$f") + $(count errors? "$f") ))
  skipped=$(( skipped + $(count skipped "$f") ))
done
rm -rf "$logs"
echo "[phase] pytest: $(( $(date +%s) - start )) s"
echo "pytest: $passed passed, $failed failed, $skipped skipped"
# 5: a lane whose tests PYTEST_ARGS all deselected
rcs=()
for rc in "$rc_main" "$rc_cluster" "$rc_aside" "$rc_late"; do
  [ "$rc" = 5 ] && rc=0
  rcs+=("$rc")
done
[ $(( passed + failed )) -gt 0 ] || { echo "no test ran" >&2; exit 5; }
exit $(( rcs[0] || rcs[1] || rcs[2] || rcs[3] || rc_web || rc_lint ))
