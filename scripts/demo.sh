#!/usr/bin/env bash
# Builds the Delft demo twin from ../shared/data into ./demo-twin and shows what it holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/tweeling demo --twin demo-twin "$@"
