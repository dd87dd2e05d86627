# shellcheck shell=bash
# NATS 2.9 with JetStream on a file store.
#
# Durability tradeoff: by default JetStream acknowledges a publish once the message is written to the file
# (page cache) and fsyncs every 2 minutes, so an acked message survives a nats-server crash but not a power
# loss. COURIER_NATS_SYNC=always sets `sync_interval: always` (fsync before every ack): power-safe, and much
# slower. It is off by default because tests and benchmarks here measure process crashes, not power cuts;
# docs/adapters/nats.md says the same.
NATS_PORT="${COURIER_NATS_PORT:-14222}"
NATS_HTTP_PORT="${COURIER_NATS_HTTP_PORT:-18222}"

nats_packages() { echo nats-server; }
nats_port() { echo "$NATS_PORT"; }

nats_ready() {
  curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$NATS_HTTP_PORT/healthz?js-enabled-only=true"
}

nats_start() {
  local dir; dir="$(broker_dir nats)"
  mkdir -p "$dir/jetstream"
  {
    echo "host: 127.0.0.1"
    echo "port: $NATS_PORT"
    echo "http: 127.0.0.1:$NATS_HTTP_PORT"
    echo "pid_file: \"$dir/pid\""
    echo "max_payload: 8MB"
    echo "jetstream {"
    echo "  store_dir: \"$dir/jetstream\""
    [[ "${COURIER_NATS_SYNC:-}" == always ]] && echo "  sync_interval: always"
    echo "}"
  } >"$dir/nats.conf"
  setsid nohup nats-server -c "$dir/nats.conf" >"$dir/nats.log" 2>&1 </dev/null &
}

nats_stop() { stop_pid "$(broker_dir nats)/pid"; }

nats_env() { echo "export COURIER_NATS_URL=nats://127.0.0.1:$NATS_PORT"; }
