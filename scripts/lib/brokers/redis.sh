# shellcheck shell=bash
# Redis 7 with the append-only file on (appendfsync everysec: an acknowledged write survives a process crash,
# up to ~1 s may be lost on power loss), no RDB snapshots.
REDIS_PORT="${COURIER_REDIS_PORT:-16379}"

redis_packages() { echo redis-server redis-tools; }
redis_port() { echo "$REDIS_PORT"; }

redis_ready() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_start() {
  local dir; dir="$(broker_dir redis)"
  mkdir -p "$dir/data"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
    --pidfile "$dir/pid" --logfile "$dir/redis.log" --dir "$dir/data" \
    --appendonly yes --appendfsync everysec --save '' >/dev/null
}

redis_stop() { stop_pid "$(broker_dir redis)/pid"; }

redis_env() { echo "export COURIER_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"; }
