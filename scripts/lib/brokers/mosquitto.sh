# shellcheck shell=bash
# Mosquitto 2 (MQTT 3.1.1 and 5). As root it drops to the `mosquitto` user, so its directory belongs to it.
#
# Persistence: mosquitto keeps queued QoS 1/2 messages and persistent sessions in memory and writes them to
# disk every `autosave_interval` seconds and on clean shutdown; a crash loses what arrived since the last save.
# The offline queue per client is raised from 1000 (the default silently drops the rest) to 1 000 000.
MOSQUITTO_PORT="${COURIER_MQTT_PORT:-11883}"

mosquitto_packages() { echo mosquitto; }
mosquitto_port() { echo "$MOSQUITTO_PORT"; }

# MQTT 3.1.1 CONNECT (clean session, keep-alive 60 s, empty client id) must get CONNACK 0x20 0x02 0x00 0x00.
mosquitto_ready() {
  [[ "$(tcp_exchange "$MOSQUITTO_PORT" '\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00' 4)" == 20020000 ]]
}

mosquitto_start() {
  local dir; dir="$(broker_dir mosquitto)"
  mkdir -p "$dir/data"
  cat >"$dir/mosquitto.conf" <<CONF
listener $MOSQUITTO_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $dir/data/
autosave_interval ${COURIER_MQTT_AUTOSAVE:-30}
max_queued_messages 1000000
set_tcp_nodelay true
pid_file $dir/pid
log_dest file $dir/mosquitto.log
CONF
  chown -R mosquitto: "$dir"
  mosquitto -c "$dir/mosquitto.conf" -d
}

mosquitto_stop() { stop_pid "$(broker_dir mosquitto)/pid"; }

mosquitto_env() { echo "export COURIER_MQTT_URL=mqtt://127.0.0.1:$MOSQUITTO_PORT"; }
