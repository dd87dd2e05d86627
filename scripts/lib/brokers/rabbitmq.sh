# shellcheck shell=bash
# RabbitMQ 3.10 started from /usr/lib/rabbitmq/bin directly (the /usr/sbin wrapper switches user and uses
# /var). Everything (node name, epmd port, distribution port, config, data, logs) is private to this
# directory, so it does not meet a system RabbitMQ. `raft.wal_max_size_bytes` caps the quorum-queue WAL,
# which otherwise grows to hundreds of MB in a long benchmark.
RABBITMQ_PORT="${COURIER_RABBITMQ_PORT:-15682}"
RABBITMQ_EPMD_PORT="${COURIER_RABBITMQ_EPMD_PORT:-14369}"

rabbitmq_packages() { echo rabbitmq-server; }
rabbitmq_port() { echo "$RABBITMQ_PORT"; }

# Environment shared by rabbitmq-server, rabbitmqctl and epmd.
rabbitmq_export_env() {
  local dir; dir="$(broker_dir rabbitmq)"
  export HOME="$dir"
  export RABBITMQ_NODENAME=rabbit@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$RABBITMQ_PORT"
  export RABBITMQ_DIST_PORT=$((RABBITMQ_PORT + 20000))
  export ERL_EPMD_ADDRESS=127.0.0.1
  export ERL_EPMD_PORT="$RABBITMQ_EPMD_PORT"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/pid"
}

# AMQP 0-9-1 protocol header must be answered by a method frame (type 1): Connection.Start.
rabbitmq_ready() { [[ "$(tcp_exchange "$RABBITMQ_PORT" 'AMQP\x00\x00\x09\x01' 1)" == 01 ]]; }

rabbitmq_start() {
  local dir; dir="$(broker_dir rabbitmq)"
  mkdir -p "$dir/mnesia" "$dir/log"
  rabbitmq_export_env
  : >"$dir/rabbitmq-env.conf"
  echo '[].' >"$dir/enabled_plugins"
  echo '[].' >"$dir/advanced.config"
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBITMQ_PORT
distribution.listener.interface = 127.0.0.1
loopback_users.guest = true
raft.wal_max_size_bytes = 64000000
disk_free_limit.absolute = 50MB
CONF
  setsid nohup /usr/lib/rabbitmq/bin/rabbitmq-server >"$dir/log/console.log" 2>&1 </dev/null &
  # Boot takes ~5 s (10 s the first time); await_startup returns once the node is fully up.
  wait_until 30 live_pid "$dir/pid" || return 0
  timeout "$COURIER_BROKER_TIMEOUT" /usr/lib/rabbitmq/bin/rabbitmqctl -q await_startup >/dev/null 2>&1 || true
}

rabbitmq_stop() {
  local dir; dir="$(broker_dir rabbitmq)"
  rabbitmq_export_env
  if live_pid "$dir/pid" >/dev/null; then
    timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q stop "$dir/pid" >/dev/null 2>&1 || stop_pid "$dir/pid"
  fi
  rm -f "$dir/pid"
  epmd -kill >/dev/null 2>&1 || true
}

rabbitmq_env() {
  echo "export COURIER_AMQP_URL=amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT"
}
