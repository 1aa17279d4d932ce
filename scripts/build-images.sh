#!/usr/bin/env bash
# Build Registro's container images with podman, over local stand-ins for the base and
# third-party images (no registry is reachable here). Cached outside the repo.
#
# Interface (used by `make images`, `make test`, tests/support/images.py and the cluster):
#   scripts/build-images.sh [--only NAME ...] [--no-cache]
#     builds every image (or the named ones and what they are built FROM), exports
#     each as a docker-archive and prints one line per image. stdout's LAST line is the
#     path of the manifest, $REGISTRO_TOOLS_CACHE/images/manifest.json:
#       {"containers_conf": ".../containers.conf",
#        "images": {"<short name>": {"ref": "docker.io/library/registro-api:0.1.0",
#                                    "id": "<image id>", "archive": ".../registro-api.tar",
#                                    "size_bytes": N, "build_seconds": S,
#                                    "cold_build_seconds": S0, "cached": true|false,
#                                    "key": "<cache key>"}}}
#   Import into containerd: ctr -n k8s.io images import <archive>  (refs are fully
#   qualified, so `registro-api:0.1.0` in a pod spec resolves to them).
#   Run podman yourself with CONTAINERS_CONF=<containers_conf> (runc, cgroupfs, ulimits).
# Env: REGISTRO_TOOLS_CACHE (default /root/.cache/registro-tools).
# podman also keeps localhost/registro-<part>-deps:cache, each project image's dependency
# stage: the layer cache that lets a source edit skip the dependency install.
# Short names: debian, python, api, worker, operator, demo, selenium, redis, postgres, flower,
# pause.
set -euo pipefail
cd "$(dirname "$0")/.."

# podman and friends from Debian (also in the Makefile's IMAGE_PACKAGES).
scripts/install-system-deps.sh podman buildah fuse-overlayfs runc mmdebstrap uidmap conmon catatonit

exec python3 scripts/build_images.py "$@"
