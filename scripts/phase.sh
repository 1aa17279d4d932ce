#!/usr/bin/env bash
# `scripts/phase.sh NAME CMD...`: run CMD and print how long it took as
# "[phase] NAME: N s" (scripts/fresh-machine-check.sh collects these lines).
set -uo pipefail
name=$1; shift
start=$(date +%s)
"$@"; rc=$?
echo "[phase] $name: $(( $(date +%s) - start )) s$([ "$rc" = 0 ] || echo " (exit $rc)")"
exit "$rc"
