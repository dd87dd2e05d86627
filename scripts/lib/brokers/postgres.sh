# shellcheck shell=bash
# PostgreSQL 15 (for outbox/inbox stores). It refuses to run as root, so the data directory, socket directory
# and log belong to the `postgres` user. Trust authentication on loopback: a test database, not a server.
POSTGRES_PORT="${COURIER_POSTGRES_PORT:-15432}"

postgres_packages() { echo postgresql; }
postgres_port() { echo "$POSTGRES_PORT"; }

postgres_bin() {
  local v
  v="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
  [[ -n "$v" ]] || die "postgresql is not installed (run: scripts/brokers.sh install postgres)"
  printf '/usr/lib/postgresql/%s/bin' "$v"
}

postgres_ready() { pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres; }

postgres_start() {
  local dir bin; dir="$(broker_dir postgres)"; bin="$(postgres_bin)"
  mkdir -p "$dir/data" "$dir/socket"
  chown -R postgres: "$dir"
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" --auth=trust -U postgres >"$dir/initdb.log" 2>&1 \
      || die "initdb failed, see $dir/initdb.log"
  fi
  runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" \
    -o "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -c unix_socket_directories=$dir/socket" start >/dev/null
}

postgres_stop() {
  local dir; dir="$(broker_dir postgres)"
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  runuser -u postgres -- "$(postgres_bin)/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
}

postgres_env() { echo "export COURIER_POSTGRES_URL=postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres"; }
