# shellcheck shell=bash
# Shared helpers for scripts/brokers.sh: directories, ports, pid files, waiting, and raw protocol probes.
#
# Every broker runs as a plain background process (no systemd), listens on 127.0.0.1 only, keeps its data
# under ${COURIER_BROKERS_DIR:-/tmp/courier-brokers}/<name>/, and uses a fixed non-standard port that an
# environment variable overrides. A broker file in scripts/lib/brokers/ defines, for its <name>:
#   <name>_packages   apt packages it needs          <name>_port    its client port
#   <name>_start      start it in the background     <name>_ready   true when it answers at protocol level
#   <name>_stop       stop it                        <name>_env     `export COURIER_…=…` lines

COURIER_BROKERS_DIR="${COURIER_BROKERS_DIR:-/tmp/courier-brokers}"
COURIER_BROKER_TIMEOUT="${COURIER_BROKER_TIMEOUT:-60}"

broker_dir() { printf '%s/%s' "$COURIER_BROKERS_DIR" "$1"; }

log() { printf '%s\n' "$*" >&2; }
die() { log "brokers.sh: $*"; exit 1; }

# The pid stored in <dir>/pid if that process is alive, else nothing (and status 1).
live_pid() {
  local file="$1" pid
  [[ -r "$file" ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

# wait_until <seconds> <command…>: retry every 0.1 s until the command succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Stop the process in <pidfile>: SIGTERM, wait up to 20 s, then SIGKILL.
stop_pid() {
  local file="$1" pid
  pid="$(live_pid "$file")" || { rm -f "$file"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until 20 bash -c "! kill -0 $pid"; then
    log "pid $pid did not stop on SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# tcp_exchange <port> <bytes as printf format> <n>: send bytes to 127.0.0.1:<port>, print the first n reply
# bytes as hex. Used for protocol-level probes without client tools.
tcp_exchange() {
  local port="$1" request="$2" n="$3"
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
    printf "$1" >&3
    head -c "$2" <&3 | od -An -tx1 | tr -d " \n"
  ' "$port" "$request" "$n" 2>/dev/null
}
