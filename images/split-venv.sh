#!/bin/sh
# Copy what the project's install added to an image's venv (every file newer than the
# stamp the dependencies' step left) under OUT, at its absolute path, for the runtime
# stage's last layer: a source edit then ships a few MiB, not the whole venv again
# (run by the Dockerfiles' build stage).
#   images/split-venv.sh VENV STAMP OUT
set -eu
venv=$1 stamp=$2 out=$3
mkdir -p "$out"
find "$venv" -newer "$stamp" ! -type d -print0 | tar --null --files-from=- -cf - | tar -xf - -C "$out"
