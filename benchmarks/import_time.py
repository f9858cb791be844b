"""What importing the library costs, as whole processes: each against a bare interpreter.

    .venv/bin/python -m benchmarks.import_time            # --runs 20

Each case is a fresh ``python -c ...`` process, run in turn with the bare
interpreter (A B A B ...), so a drifting machine shifts both; CPU comes from the
children's rusage, wall from perf_counter. Prints medians and the median of the
paired differences. ``python -X importtime -c '<case>'`` shows where the time goes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CASES = {
    "import resumable_core": "import resumable_core",
    "a DAG file: the operator's imports, no run": "import resumable_core; resumable_core.Policy; resumable_core.PollPolicy",
    "a run: from resumable_core import run_resumable": "from resumable_core import run_resumable",
    "a run on SQLite (resumable_adapters.sqlite + run_resumable)": "import resumable_adapters.sqlite; from resumable_core import run_resumable",
}
BARE = "pass"


def one(code: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = {}
    for name, code in CASES.items():
        one(code), one(BARE)  # warm-up: the page cache, the .pyc files
        pairs = [(one(code), one(BARE)) for _ in range(args.runs)]
        rows[name] = {
            "wall_ms": 1000 * statistics.median(a[0] for a, _ in pairs),
            "bare_wall_ms": 1000 * statistics.median(b[0] for _, b in pairs),
            "added_wall_ms": 1000 * statistics.median(a[0] - b[0] for a, b in pairs),
            "added_cpu_ms": 1000 * statistics.median(a[1] - b[1] for a, b in pairs),
        }
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
