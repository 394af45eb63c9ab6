#!/usr/bin/env bash
# Set up and run the whole test suite (unit + integration against real PostgreSQL/Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
bash scripts/pgvector.sh
bash scripts/services.sh
bash scripts/browser.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
# pytest exit code 5 means "no tests collected" (e.g. a -k filter matching nothing): not a failure.
if [ "$rc" -eq 5 ]; then rc=0; fi
exit "$rc"
