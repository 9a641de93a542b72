#!/usr/bin/env bash
# Installs the Debian packages Eventdeck's tests and demo need, when missing:
#   chromium        - the browser the end-to-end tests drive through Playwright
#   postgresql      - the PostgreSQL store backend (the machine's cluster, and private instances that tests
#                     restart or put behind TLS: initdb/pg_ctl from /usr/lib/postgresql/*/bin)
#   rabbitmq-server - only if no RabbitMQ is installed at all
#   redis-server    - the Redis dedup store of `instrument` (its tests start a private one if none runs)
#   socat           - the TLS terminator in front of Tansu for the Kafka-over-TLS/mTLS tests (tests/tls_brokers.py)
# Needs root (or sudo) the first time; does nothing when everything is there.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ ${#need[@]} -eq 0 ] && exit 0
echo "system-deps: installing ${need[*]} with apt-get" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "system-deps: need root to install ${need[*]}: run 'sudo apt-get install -y ${need[*]}'" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q "${need[@]}" >/dev/null
