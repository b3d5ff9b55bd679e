#!/usr/bin/env bash
# Runs the whole test suite (lint + pytest) after installing what it needs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# Browser tests drive Debian's Chromium through Playwright (no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing Debian's chromium for the browser tests" >&2
  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || {
    echo "test.sh: could not install chromium" >&2; exit 1; }
fi
# The PostGIS store backend's tests use the PostgreSQL server here, with PostGIS.
bash scripts/postgis.sh || exit 1
.venv/bin/ruff check src tests benchmarks || exit 1
.venv/bin/python -m pytest "$@"
code=$?
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$code"
