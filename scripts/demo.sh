#!/usr/bin/env bash
# The main job: the crash-and-resume demo on the embedded default (SQLite + a local process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh core
exec .venv/bin/python -m resumable_adapters.demo "$@"
