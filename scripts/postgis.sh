#!/usr/bin/env bash
# PostgreSQL with PostGIS for the tests of the PostGIS store backend: installs Debian's
# PostGIS for the PostgreSQL that runs here (or PostgreSQL itself, and starts it, where none
# runs), and checks that 127.0.0.1:5432 takes connections as postgres. Safe to run again.
set -euo pipefail

reachable() { psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; }

if ! command -v psql >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "postgis.sh: installing PostgreSQL from Debian packages" >&2
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
if ! reachable; then
  echo "postgis.sh: starting PostgreSQL" >&2
  for cluster in /etc/postgresql/*/main; do
    version=$(basename "$(dirname "$cluster")")
    pg_ctlcluster "$version" main start || true
  done
  for _ in $(seq 1 30); do reachable && break; sleep 1; done
  reachable || { echo "postgis.sh: PostgreSQL does not answer on 127.0.0.1:5432 as postgres" >&2; exit 1; }
fi
major=$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SHOW server_version' | cut -d. -f1)
if [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
  echo "postgis.sh: installing PostGIS for PostgreSQL $major from Debian packages" >&2
  { apt-get update -qq && apt-get install -y -qq "postgresql-$major-postgis-3" >/dev/null; } || {
    echo "postgis.sh: could not install postgresql-$major-postgis-3" >&2; exit 1; }
fi
