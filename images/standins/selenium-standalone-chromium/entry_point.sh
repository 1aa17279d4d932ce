#!/bin/sh
# WebDriver on all interfaces of the pod (kubelet probes /status from the node), any origin.
set -eu
exec /usr/bin/chromedriver --port="${SE_PORT:-4444}" --allowed-ips= --allowed-origins='*' \
    --log-level="${SE_LOG_LEVEL:-WARNING}" "$@"
