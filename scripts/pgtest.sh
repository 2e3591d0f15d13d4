#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the tests (docs/ENGINES.md, "The PG fixture").
#
#   scripts/pgtest.sh start DIR [--fsync]   initdb in DIR/data (when new), start the server
#                                           on a free port of 127.0.0.1 with its unix
#                                           socket in DIR, write the port to DIR/port
#   scripts/pgtest.sh stop DIR [--remove]   stop it (immediate: nothing in it is kept);
#                                           --remove also deletes DIR/data
#   scripts/pgtest.sh down DIR              stop it as a crash would (immediate), keeping
#                                           DIR/port: an outage under clients
#   scripts/pgtest.sh up DIR                start it again after `down`, on the same port
#                                           and with the same fsync setting
#
# The server runs as the invoking user, or as `nobody` when that is root (PostgreSQL
# refuses to run as root). Superuser `dd`, trust authentication, UTF8, locale C. fsync is
# off unless --fsync (unit tests need no durability; crash and restart tests do).
# Debian's own cluster service (postgresql.service, /etc/postgresql) is neither needed
# nor touched: only the binaries in /usr/lib/postgresql/15/bin are used.
set -euo pipefail

usage() { echo "usage: scripts/pgtest.sh start DIR [--fsync] | stop DIR [--remove] | down DIR | up DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2 fsync=off remove=0
[ "${3:-}" = "--fsync" ] && fsync=on
[ "${3:-}" = "--remove" ] && remove=1
bin=${DD_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$bin/pg_ctl" ] || { echo "pgtest: $bin/pg_ctl missing (scripts/setup.sh --test installs postgresql)" >&2; exit 1; }

# Run a server command as the unprivileged owner of DIR.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Where the server's files live: DIR itself, or, when DIR sits below a directory `nobody`
# cannot enter (a checkout under /root, as root), a private directory under /tmp named in
# DIR/home. Clients only need DIR/port (they connect over TCP to 127.0.0.1).
server_home() {
  if [ -f "$dir/home" ]; then cat "$dir/home"; else echo "$dir"; fi
}

# Start the server of the cluster in $dir (the server's home) on $1; true when it runs.
launch() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $1 -k $dir -c fsync=$fsync -c max_connections=300 -c shared_buffers=32MB" \
    >/dev/null 2>&1
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody:nogroup "$dir"
    if ! as_owner test -w "$dir"; then
      local home
      home=$(server_home)
      if [ "$home" = "$dir" ] || [ ! -d "$home" ]; then
        home=$(mktemp -d /tmp/dd-pgtest.XXXXXX)
        echo "$home" >"$dir/home"
      fi
      chown -R nobody:nogroup "$home"
      as_owner test -w "$home" || { echo "pgtest: neither $dir nor $home is reachable by nobody" >&2; exit 1; }
    fi
  fi
  local real=$dir
  dir=$(server_home)
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U dd -A trust -E UTF8 --locale=C --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # a server left running by an interrupted run: stop it, this one starts afresh
  [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  # A port from bind(0) may be taken again before the server binds it: retry with another.
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if launch "$port"; then
      echo "$port" >"$real/port"
      echo "$fsync" >"$real/fsync"
      return 0
    fi
  done
  echo "pgtest: the server did not start; $dir/server.log says:" >&2
  tail -20 "$dir/server.log" >&2 || true
  exit 1
}

stop() {
  local home
  home=$(server_home)
  if [ -f "$home/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$dir/port" "$dir/fsync"
  if [ "$remove" -eq 1 ]; then
    rm -rf "$home/data"
    if [ "$home" != "$dir" ]; then rm -rf "$home"; rm -f "$dir/home"; fi
  fi
}

down() {
  local home
  home=$(server_home)
  as_owner "$bin/pg_ctl" -D "$home/data" -m immediate -w stop >/dev/null 2>&1
}

up() {
  [ -f "$dir/port" ] || { echo "pgtest: $dir/port missing (start it first)" >&2; exit 1; }
  local port
  port=$(cat "$dir/port")
  fsync=$(cat "$dir/fsync" 2>/dev/null || echo off)
  dir=$(server_home)
  launch "$port" || { echo "pgtest: the server did not start again on $port:" >&2;
                      tail -20 "$dir/server.log" >&2; exit 1; }
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  down) down ;;
  up) up ;;
  *) usage ;;
esac
