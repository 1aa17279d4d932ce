#!/usr/bin/env bash
# mypy over the Python parts as they are installed: registro/ (registro), api/
# (registro.api), worker/ (registro.worker), legacy_demo/ (registro.legacy_demo),
# operator/registro_operator and the dev harness devstack/ (its own distribution). mypy
# cannot follow the editable install's import hook, so a tree of symlinks in
# var/typecheck lays the folders out as the installed packages. Configuration: [tool.mypy] in pyproject.toml. Extra arguments go to mypy.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tree="$repo/var/typecheck"
rm -rf "$tree/registro" "$tree/registro_operator" "$tree/devstack"
mkdir -p "$tree/registro"
for entry in "$repo"/registro/*; do
  [[ "$(basename "$entry")" == __pycache__ ]] || ln -s "$entry" "$tree/registro/"
done
ln -s "$repo/api" "$tree/registro/api"
ln -s "$repo/worker" "$tree/registro/worker"
ln -s "$repo/legacy_demo" "$tree/registro/legacy_demo"
ln -s "$repo/operator/registro_operator" "$tree/registro_operator"
ln -s "$repo/devstack" "$tree/devstack"
cd "$tree"
exec "$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" -p registro -p registro_operator -p devstack "$@"
