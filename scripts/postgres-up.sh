#!/usr/bin/env bash
# Makes the machine's PostgreSQL available for `make test` / `make bench`: installs it when missing (Debian's
# `postgresql`, which creates the `main` cluster), lets the local tests in (trust on the Unix socket and
# 127.0.0.1, only for a cluster this script created), and starts it when it is down. The store tests run
# against both SQLite and PostgreSQL; each test session creates and drops a database of its own.
set -euo pipefail
START='pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
if ! command -v pg_isready >/dev/null 2>&1 || [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql)" ]; then
  echo "postgres-up: PostgreSQL is not installed; installing it with apt-get (the postgresql store tests need it)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q postgresql >/dev/null; }; then
    echo "postgres-up: could not install PostgreSQL; run: apt-get install -y postgresql" >&2
    exit 1
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # A cluster made just now for the tests: local connections as any user, no password (loopback only).
  printf 'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO tee "$hba" >/dev/null
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main restart 2>/dev/null || true
fi
pg_isready -q -h /var/run/postgresql && exit 0
echo "postgres-up: starting PostgreSQL: $START" >&2
$SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
for _ in $(seq 1 30); do
  pg_isready -q -h /var/run/postgresql && exit 0
  sleep 1
done
echo "postgres-up: PostgreSQL did not come up; start it with: $START" >&2
exit 1
