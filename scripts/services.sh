#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1; install and start them if not (needs root).
set -uo pipefail
answers() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"

if ! answers 5432; then
  echo "services: PostgreSQL not answering, starting it" >&2
  if ! command -v pg_ctlcluster >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  # trust auth on loopback, database `test`, as on the CI machine
  for _ in $(seq 1 20); do answers 5432 && break; sleep 1; done
  $SUDO -u postgres psql -tAc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || $SUDO -u postgres createdb test 2>/dev/null || true
fi
if ! answers 6379; then
  echo "services: Redis not answering, starting it" >&2
  if ! command -v redis-server >/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  fi
  mkdir -p /tmp/docintel-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/docintel-redis
  for _ in $(seq 1 10); do answers 6379 && break; sleep 1; done
fi
# Integration tests never skip in CI: a service that still does not answer fails the run here.
rc=0
answers 5432 || { echo "services: ERROR PostgreSQL still not answering on 127.0.0.1:5432" >&2; rc=1; }
answers 6379 || { echo "services: ERROR Redis still not answering on 127.0.0.1:6379" >&2; rc=1; }
exit "$rc"
