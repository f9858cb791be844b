#!/usr/bin/env bash
# The whole test suite on a fresh machine: venv, packages, Java, the real services
# (Spark master + worker, PostgreSQL: started by the pytest fixtures on 127.0.0.1,
# stopped by PID), pytest, then ruff and mypy --strict. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

export RESUMABLE_TEST_RUN_DIR="$PWD/.test-services/run-$$"
mkdir -p "$RESUMABLE_TEST_RUN_DIR/pids"
cleanup() {
    # Fixtures stop their services; this only catches what a crashed pytest left.
    # Each PID file was written by the fixture that started that process.
    for f in "$RESUMABLE_TEST_RUN_DIR"/pids/*.pid; do
        [ -e "$f" ] || continue
        pid="$(cat "$f")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 1
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$RESUMABLE_TEST_RUN_DIR"
}
trap cleanup EXIT

status=0
# Three workers, each starting the services its tests ask for (its own Spark, Flink, PostgreSQL, ...
# on free ports): on this 2-core machine three beat two (12.5 min against 14 for the whole suite,
# docs/performance.md), since much of a test's time is a process or a JVM starting, not CPU.
# --dist loadfile keeps a module on one worker, so a module's fixtures (a moto server, an Airflow
# sandbox) are made once. RESUMABLE_TEST_WORKERS=0 runs in one process.
workers="${RESUMABLE_TEST_WORKERS:-3}"
if [ "$workers" -gt 0 ]; then
    set -- -n "$workers" --dist loadfile "$@"
fi
.venv/bin/python -m pytest "$@" || status=$?
echo "== ruff"
.venv/bin/python -m ruff check . || status=$?
echo "== mypy --strict"
.venv/bin/python -m mypy || status=$?
exit $status
