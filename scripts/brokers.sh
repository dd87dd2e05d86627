#!/usr/bin/env bash
# Run the message brokers Courier's adapters and benchmarks use, locally, without systemd.
#
#   scripts/brokers.sh install [name…]   apt-get update once, install only what is missing (+ Python clients)
#   scripts/brokers.sh start   [name…]   start (idempotent), wait until each answers at protocol level,
#                                        print "name port" per broker
#   scripts/brokers.sh stop    [name…]   stop by pid (rabbitmq: rabbitmqctl stop, then epmd -kill)
#   scripts/brokers.sh status  [name…]   "name port up|down" per broker; exit 1 if any is down
#   scripts/brokers.sh env     [name…]   `export COURIER_…_URL=…` lines: eval "$(scripts/brokers.sh env)"
#
# Names: redis rabbitmq nats mosquitto postgres (default: all). Data lives in
# ${COURIER_BROKERS_DIR:-/tmp/courier-brokers}/<name>/. Everything binds 127.0.0.1 on ports that avoid the
# standard ones, each overridable:
#   redis      COURIER_REDIS_PORT=16379        rabbitmq  COURIER_RABBITMQ_PORT=15682 (epmd 14369)
#   nats       COURIER_NATS_PORT=14222 (HTTP monitor COURIER_NATS_HTTP_PORT=18222; COURIER_NATS_SYNC=always
#              to fsync before every ack, see scripts/lib/brokers/nats.sh)
#   mosquitto  COURIER_MQTT_PORT=11883         postgres  COURIER_POSTGRES_PORT=15432
# Must run as root (it installs packages, and drops to the postgres/mosquitto users where they need it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/broker-common.sh
. "$HERE/lib/broker-common.sh"
ALL_BROKERS=(redis rabbitmq nats mosquitto postgres)
for name in "${ALL_BROKERS[@]}"; do
  # shellcheck source=/dev/null
  . "$HERE/lib/brokers/$name.sh"
done
PYTHON_CLIENTS=(python3-pika python3-paho-mqtt python3-redis python3-grpcio python3-grpc-tools)
# Other tools the tests use: openssl makes the throwaway certificate of the gRPC TLS tests.
TEST_TOOLS=(openssl)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

select_brokers() {
  if (($# == 0)); then SELECTED=("${ALL_BROKERS[@]}"); return; fi
  SELECTED=()
  local name
  for name in "$@"; do
    [[ " ${ALL_BROKERS[*]} " == *" $name "* ]] || die "unknown broker '$name' (known: ${ALL_BROKERS[*]})"
    SELECTED+=("$name")
  done
}

# Serialise start/stop/install between concurrent callers (several helpers share one machine).
with_lock() {
  mkdir -p "$COURIER_BROKERS_DIR"
  exec 9>"$COURIER_BROKERS_DIR/.lock"
  flock -w 300 9 || die "could not lock $COURIER_BROKERS_DIR/.lock"
}

cmd_install() {
  local missing=() name pkg
  for name in "${SELECTED[@]}"; do
    for pkg in $("${name}_packages"); do missing+=("$pkg"); done
  done
  missing+=("${PYTHON_CLIENTS[@]}" "${TEST_TOOLS[@]}")
  local needed=()
  for pkg in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || needed+=("$pkg")
  done
  if ((${#needed[@]} == 0)); then log "all packages already installed"; return; fi
  log "installing: ${needed[*]}"
  apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting (there is no init system to start them).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
}

cmd_start() {
  local name failed=0
  for name in "${SELECTED[@]}"; do
    if ! "${name}_ready"; then
      # fd 9 holds the lock: daemons must not inherit it.
      "${name}_start" 9>&- || true
      if ! wait_until "$COURIER_BROKER_TIMEOUT" "${name}_ready"; then
        log "$name did not answer on port $("${name}_port") within ${COURIER_BROKER_TIMEOUT}s; logs in $(broker_dir "$name")"
        failed=1
        continue
      fi
    fi
    echo "$name $("${name}_port")"
  done
  return "$failed"
}

cmd_stop() {
  local name
  for name in "${SELECTED[@]}"; do "${name}_stop"; log "$name stopped"; done
}

cmd_status() {
  local name down=0
  for name in "${SELECTED[@]}"; do
    if "${name}_ready"; then echo "$name $("${name}_port") up"; else echo "$name $("${name}_port") down"; down=1; fi
  done
  return "$down"
}

cmd_env() {
  local name
  for name in "${SELECTED[@]}"; do "${name}_env"; done
}

(($# >= 1)) || usage
command="$1"; shift
select_brokers "$@"
case "$command" in
  install) with_lock; cmd_install ;;
  start) with_lock; cmd_start ;;
  stop) with_lock; cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h|--help|help) usage ;;
  *) usage ;;
esac
