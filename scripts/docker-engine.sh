#!/usr/bin/env bash
# A Docker engine for the container tests (`make test` runs this first).
#
# If `docker info` answers, nothing to do. Otherwise, on Debian as root: install docker.io
# (Debian's package) if dockerd is missing, start dockerd in the background (log in
# $DOCKERD_LOG), and wait for its socket, bounded by $DOCKERD_WAIT_S. Anywhere else (no root,
# not Debian, the install or the start fails) it prints one loud line saying why and exits 0:
# the container tests then skip with that reason (or fail, with LOADGATE_REQUIRE_DOCKER=1).
# The reason is also written to $LOADGATE_DOCKER_STATUS for the tests to show.
set -uo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/loadgate-dockerd.log}
DOCKERD_WAIT_S=${DOCKERD_WAIT_S:-60}
STATUS_FILE=${LOADGATE_DOCKER_STATUS:-${TMPDIR:-/tmp}/loadgate-docker-status}
DOCKER=${DOCKER:-docker}

say() { echo "docker-engine: $*"; }
unavailable() {
  echo "$*" >"$STATUS_FILE"
  echo "################################################################################"
  echo "docker-engine: NO DOCKER ENGINE, the container tests will skip: $*"
  echo "################################################################################"
  exit 0
}
elapsed() { echo $(( $(date +%s) - t0 )); }

t0=$(date +%s)
if $DOCKER info >/dev/null 2>&1; then
  rm -f "$STATUS_FILE"
  say "engine already running ($($DOCKER version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

[ "$(id -u)" = 0 ] || unavailable "docker info fails and this user is not root (start Docker yourself)"
grep -qs '^ID=debian' /etc/os-release || \
  unavailable "docker info fails and this is not Debian (install and start Docker yourself)"

if ! command -v dockerd >/dev/null 2>&1; then
  say "installing docker.io from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  # no init system here to start it: the package's service start may fail, that is fine
  if ! apt-get install -y -q --no-install-recommends docker.io >/tmp/loadgate-docker-apt.log 2>&1; then
    apt-get update -q >>/tmp/loadgate-docker-apt.log 2>&1
    apt-get install -y -q --no-install-recommends docker.io >>/tmp/loadgate-docker-apt.log 2>&1 || true
  fi
  command -v dockerd >/dev/null 2>&1 || \
    unavailable "apt-get install docker.io failed (see /tmp/loadgate-docker-apt.log)"
  say "docker.io installed in $(elapsed)s"
fi

# a package install may have started it through its init script; else start it ourselves
if ! $DOCKER info >/dev/null 2>&1; then
  say "starting dockerd in the background (log: $DOCKERD_LOG)"
  # setsid: the engine outlives this make run and is reused by the next one
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$(( $(date +%s) + DOCKERD_WAIT_S ))
  until $DOCKER info >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      unavailable "dockerd did not answer within ${DOCKERD_WAIT_S}s (tail of $DOCKERD_LOG: $(tail -n 3 "$DOCKERD_LOG" 2>/dev/null | tr '\n' ' '))"
    fi
    sleep 0.5
  done
fi
rm -f "$STATUS_FILE"
say "engine ready in $(elapsed)s ($($DOCKER version --format 'server {{.Server.Version}}' 2>/dev/null))"
