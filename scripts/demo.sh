#!/usr/bin/env bash
# Builds the Delft demo twin from ../shared/data into ./demo-twin, then serves it: the web
# viewer at http://127.0.0.1:8000/viewer/ (Ctrl-C stops; --port N for another port).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tweeling demo --twin demo-twin --serve "$@"
