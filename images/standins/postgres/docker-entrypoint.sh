#!/bin/sh
# First start: initdb with POSTGRES_USER (default postgres) and POSTGRES_PASSWORD, create
# POSTGRES_DB (default: the user's name), allow scram-sha-256 logins from the network.
# Then `postgres ARGS...` listening on every interface. Anything else is exec'd.
set -eu
case "${1:-}" in
  -*) set -- postgres "$@" ;;
esac
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "docker-entrypoint: POSTGRES_PASSWORD is required to initialise $PGDATA" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  # initdb refuses to run when the uid has no passwd entry (the chart runs as 10001):
  # give it one through nss_wrapper, for the initialisation only.
  if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
    nss_dir="$(mktemp -d)"
    printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" \
      > "$nss_dir/passwd"
    printf 'postgres:x:%s:\n' "$(id -g)" > "$nss_dir/group"
    export LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD="$nss_dir/passwd" \
      NSS_WRAPPER_GROUP="$nss_dir/group"
  fi
  pwfile="$(mktemp)"
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    # psql interpolates :"db" (quoted identifier) only in its input, not in -c.
    printf 'CREATE DATABASE :"db";\n' | psql -v ON_ERROR_STOP=1 --username "$user" \
      --dbname postgres --set db="$db" >/dev/null
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  if [ -n "${nss_dir:-}" ]; then
    unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
    rm -rf "$nss_dir"
  fi
  echo "docker-entrypoint: initialised $PGDATA (user $user, database $db)" >&2
fi
exec postgres -c listen_addresses='*' "$@"
