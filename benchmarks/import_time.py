"""What importing the library costs, and how fast the ``resumable`` command answers, as whole processes,
each against a bare interpreter.

    .venv/bin/python -m benchmarks.import_time            # --runs 20

Each case is a fresh process (``python -c ...``, or ``python -m resumable_adapters.cli ...``
on a state file made here with one finished key), run in turn with the bare interpreter
(A B A B ...), so a drifting machine shifts both; CPU comes from the children's rusage,
wall from perf_counter. Prints medians, the median of the paired differences and of the
paired ratios (issue 23's bound for status, list, history and --help: 3x). Bytecode is
written and warmed first (a set PYTHONDONTWRITEBYTECODE is dropped for the children: a
module recompiled on every start is not what an installed package costs).
``python -X importtime -c '<case>'`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "import resumable_core": "import resumable_core",
    "a DAG file: the operator's imports, no run": "import resumable_core; resumable_core.Policy; resumable_core.PollPolicy",
    "a run: from resumable_core import run_resumable": "from resumable_core import run_resumable",
    "a run on SQLite (resumable_adapters.sqlite + run_resumable)": "import resumable_adapters.sqlite; from resumable_core import run_resumable",
}
KEY = "nightly"
COMMANDS = {
    "resumable status KEY (a finished key)": ["status", KEY],
    "resumable list": ["list"],
    "resumable history KEY": ["history", KEY],
    "resumable --help": ["--help"],
}
BARE = [sys.executable, "-c", "pass"]


def one(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def finished_key(state: Path) -> None:
    """A state file holding one succeeded key, written by the core itself."""
    from resumable_adapters.sqlite import SqliteStateStore
    from resumable_core import PollPolicy, run_resumable
    from resumable_core.testing import FakeExternalSystem, FakeJob

    store = SqliteStateStore(str(state))
    run_resumable(FakeJob(FakeExternalSystem()), store, key=KEY, poll=PollPolicy(min_interval=0, max_interval=0))


def measure(argv: list[str], env: dict[str, str], runs: int) -> dict[str, float]:
    one(argv, env), one(BARE, env)  # warm-up: the page cache, the .pyc files
    pairs = [(one(argv, env), one(BARE, env)) for _ in range(runs)]
    return {
        "wall_ms": round(1000 * statistics.median(a[0] for a, _ in pairs), 1),
        "bare_wall_ms": round(1000 * statistics.median(b[0] for _, b in pairs), 1),
        "added_wall_ms": round(1000 * statistics.median(a[0] - b[0] for a, b in pairs), 1),
        "added_cpu_ms": round(1000 * statistics.median(a[1] - b[1] for a, b in pairs), 1),
        "wall_ratio": round(statistics.median(a[0] / b[0] for a, b in pairs), 2),
        "cpu_ratio": round(statistics.median(a[1] / b[1] for a, b in pairs if b[1] > 0), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows = {}
    for name, code in CASES.items():
        rows[name] = measure([sys.executable, "-c", code], env, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        finished_key(state)
        cli_env = {**env, "RESUMABLE_STATE": str(state)}
        for name, command in COMMANDS.items():
            rows[name] = measure([sys.executable, "-m", "resumable_adapters.cli", *command], cli_env, args.runs)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
