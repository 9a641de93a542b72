#!/usr/bin/env bash
# Starts the machine's PostgreSQL for `make test` when it is installed and down (the store tests run
# against both SQLite and PostgreSQL; each test session creates and drops a database of its own).
# Fails with the command to run when PostgreSQL is not installed or does not come up.
set -euo pipefail
START='pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
if ! command -v pg_isready >/dev/null 2>&1 || [ ! -d /etc/postgresql ]; then
  echo "postgres-up: PostgreSQL is not installed; the postgresql store tests need it: apt-get install -y postgresql" >&2
  exit 1
fi
pg_isready -q -h /var/run/postgresql && exit 0
echo "postgres-up: starting PostgreSQL: $START" >&2
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
for _ in $(seq 1 30); do
  pg_isready -q -h /var/run/postgresql && exit 0
  sleep 1
done
echo "postgres-up: PostgreSQL did not come up; start it with: $START" >&2
exit 1
