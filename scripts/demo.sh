#!/usr/bin/env bash
# The main job on the embedded default: set up, ingest the sample documents, search them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DOCINTEL_DATA_DIR=${DOCINTEL_DATA_DIR:-./var}
.venv/bin/docintel models install   # assemble + sha256-verify the default LLM (once)
.venv/bin/docintel ingest samples --collection samples
echo
echo '$ docintel search "How much notice is needed to terminate the agreement?" --collection samples --k 3'
.venv/bin/docintel search "How much notice is needed to terminate the agreement?" --collection samples --k 3
echo
echo '$ docintel ask "How many batteries does the remote need?" --collection samples'
.venv/bin/docintel ask "How many batteries does the remote need?" --collection samples
