#!/usr/bin/env bash
# Installs everything Tweeling needs on a fresh Debian machine: Python >= 3.11 with venv,
# then the package and its dev tools into .venv. Safe to run again (it only adds what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

need_python() {
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

if ! PY=$(need_python); then
  echo "setup: installing Python 3 with venv from Debian packages" >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
  PY=$(need_python) || { echo "setup: no Python >= 3.11 with venv available" >&2; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.tweeling-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

# The web viewer's front-end packages (MapLibre GL JS, Chart.js) from npm, pinned by
# web/package-lock.json; the app serves them itself, so the viewer needs no internet later.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Node.js and npm from Debian packages" >&2
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
web_stamp=web/node_modules/.tweeling-installed
if [ ! -f "$web_stamp" ] || [ web/package-lock.json -nt "$web_stamp" ]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  touch "$web_stamp"
fi
