#!/usr/bin/env bash
# A private Docker engine for drift_gym's docker sandbox backend (`make docker-engine`).
#
#   scripts/docker-engine.sh start [DIR]   install docker.io if dockerd is missing (root, apt),
#                                          start dockerd on DIR/docker.sock, wait until it
#                                          answers, print DOCKER_HOST=unix://DIR/docker.sock
#   scripts/docker-engine.sh stop [DIR]    stop that dockerd by its pid file
#   scripts/docker-engine.sh status [DIR]  print DOCKER_HOST=... and exit 0 when it answers
#
# Private: its own socket, data root, exec root and pid file under DIR, no iptables rules and
# no bridge (sandbox containers run with network_mode=none), so it touches nothing the host
# or another engine uses. overlay2 storage, falling back to vfs where overlay mounts fail.
# DIR defaults to $DRIFT_GYM_ENGINE_DIR or /var/tmp/drift-gym-engine (kept between runs, so
# the sandbox image is built once); $DRIFT_GYM_ENGINE_DRIVERS overrides "overlay2 vfs". For
# other docker clients: export "$(scripts/docker-engine.sh start)".
set -euo pipefail

cmd=${1:-start}
dir=${2:-${DRIFT_GYM_ENGINE_DIR:-/var/tmp/drift-gym-engine}}
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"

say() { echo "docker-engine: $*" >&2; }

answers() {
  # the engine's HTTP API answers _ping with OK once it serves requests
  [ -S "$sock" ] && python3 - "$sock" <<'EOF' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
sys.exit(0 if b"OK" in s.recv(4096) else 1)
EOF
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_engine() {
  command -v dockerd >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "dockerd is missing; install Docker (as root: apt-get install -y docker.io)"
    return 1
  fi
  say "installing docker.io (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io) \
    >"$dir/apt.log" 2>&1 || {
    say "apt-get install docker.io failed; see $dir/apt.log"
    return 1
  }
}

launch() {
  local driver=$1
  : >"$log"
  # setsid: the engine outlives the shell that started it (make, .ci/run) until `stop`
  setsid dockerd --host="unix://$sock" --data-root="$dir/data-$driver" \
    --exec-root="$dir/exec" --pidfile="$pidfile" --storage-driver="$driver" \
    --iptables=false --ip6tables=false --bridge=none --ip-masq=false \
    --userland-proxy=false --log-level=warn </dev/null >>"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do
    if answers; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}

start() {
  mkdir -p "$dir"
  chmod 0711 "$dir"
  if running_pid >/dev/null && answers; then
    echo "DOCKER_HOST=unix://$sock"
    return 0
  fi
  install_engine
  rm -f "$sock" "$pidfile"
  for driver in ${DRIFT_GYM_ENGINE_DRIVERS:-overlay2 vfs}; do
    if launch "$driver"; then
      say "dockerd $(running_pid) ready on $sock (storage driver $driver)"
      echo "DOCKER_HOST=unix://$sock"
      return 0
    fi
    say "dockerd did not start with $driver: $(tail -3 "$log" | tr '\n' ' ')"
  done
  say "no engine: see $log"
  return 1
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    say "no engine running for $dir"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { say "dockerd $pid stopped"; rm -f "$sock"; return 0; }
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
  say "dockerd $pid killed"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) if answers; then echo "DOCKER_HOST=unix://$sock"; else say "not running"; exit 1; fi ;;
  *) say "usage: $0 start|stop|status [DIR]"; exit 2 ;;
esac
