#!/usr/bin/env bash
# pytest as two tiers at once (make test): the real-pods tier (tests/cluster: one
# cluster, its tests in file order, test_zz_stop last) in the background, and every
# other test module on PYTEST_WORKERS xdist processes, each module whole on one of them
# with its own services. Both mostly wait (pods, browsers, Redis), so on two cores they
# overlap. The cluster tier's output follows the other's; the last line sums both.
set -uo pipefail
cd "$(dirname "$0")/.."
workers="${PYTEST_WORKERS:-2}"
logs="$(mktemp -d /tmp/registro-pytest.XXXXXX)"
start=$(date +%s)
.venv/bin/pytest tests/cluster -p no:cacheprovider --durations=10 "$@" >"$logs/cluster" 2>&1 &
cluster=$!
.venv/bin/pytest --ignore=tests/cluster -n "$workers" --dist loadscope --durations=15 "$@" \
  | tee "$logs/main"
rc_main=${PIPESTATUS[0]}
wait "$cluster"
rc_cluster=$?
echo "[phase] pytest tests/cluster ran alongside; its output:"
cat "$logs/cluster"
count() {  # count WORD FILE: from pytest's last summary line
  grep -E '(passed|failed|errors?|skipped|deselected).* in [0-9.]+s' "$2" | tail -n 1 \
    | grep -oE "[0-9]+ $1\b" | grep -oE '^[0-9]+' || echo 0
}
passed=0; failed=0; skipped=0
for f in "$logs/main" "$logs/cluster"; do
  passed=$(( passed + $(count passed "$f") ))
  failed=$(( failed + $(count failed "$f") + $(count errors? "$f") ))
  skipped=$(( skipped + $(count skipped "$f") ))
done
rm -rf "$logs"
echo "[phase] pytest: $(( $(date +%s) - start )) s"
echo "pytest: $passed passed, $failed failed, $skipped skipped"
# 5: a tier whose tests PYTEST_ARGS all deselected
[ "$rc_main" = 5 ] && rc_main=0
[ "$rc_cluster" = 5 ] && rc_cluster=0
[ $(( passed + failed )) -gt 0 ] || { echo "no test ran" >&2; exit 5; }
exit $(( rc_main || rc_cluster ))
