#!/bin/sh
# Trim an image's venv after `uv sync` (run by the Dockerfiles' build stage; the sizes
# are bench_images.py's, with bytecode, in the worker's venv unless said).
#   images/trim-venv.sh VENV
set -eu
venv=$1
for site in "$venv"/lib/python3*/site-packages; do
  # selenium-manager for four platforms (23 MiB): the images drive a remote WebDriver
  # (the browser sidecar), never a local driver it would fetch.
  rm -rf "$site"/selenium/webdriver/common/linux* "$site"/selenium/webdriver/common/macos \
    "$site"/selenium/webdriver/common/windows
  # Chrome DevTools bindings for three Chrome versions (10 MiB): the scraper speaks
  # WebDriver only.
  rm -rf "$site"/selenium/webdriver/common/devtools
  # kubernetes' asyncio client (41 MiB of sources): the operator uses the sync client.
  rm -rf "$site"/kubernetes/aio
done
# Extension modules as the wheels ship them keep their symbols: 25 MiB in the API's venv
# (uvloop alone 13 MiB, 1.6 stripped).
find "$venv" -name '*.so*' -type f -exec strip --strip-unneeded {} +
