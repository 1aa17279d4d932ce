#!/bin/sh
# `redis-server [config] ARGS...` or `--option ...` like upstream; anything else is exec'd.
set -eu
case "${1:-}" in
  -*) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
  shift
  # Upstream's image builds Redis with protected-mode off: pods reach it over the pod network.
  exec redis-server "$@" --protected-mode no
fi
exec "$@"
