"""The demo the README's first command runs: it must run, and tell the story it claims."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cli.conftest import REPO
from tests.paths import PYTHONPATH


def test_the_demo_runs_and_its_summary_shows_one_submission() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESUMABLE_")}
    env["PYTHONPATH"] = PYTHONPATH
    done = subprocess.run([sys.executable, "-m", "resumable_adapters.demo"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    summary = out[out.index("Summary"):]
    assert "submissions made: 1\n" in summary
    assert "processes started: 1 " in summary
    assert "final state: succeeded, SUCCEEDED" in summary
    # The three steps happened as narrated, in order.
    assert out.index("-> submitted job") < out.index("client killed (SIGKILL") < out.index("-> reattached to job")
    assert out.index("-> reattached to job") < out.index("-> result reused from job")
    assert "ok: same job id" in out and "DEMO FAILED" not in out
