"""Test harness: the real ``resumable`` CLI, held still at one point of a submission.

    python _paused_client.py before-submit|after-submit READY_FILE -- CLI ARGS...

``before-submit``: the intent and reference are recorded, submit_job is not called.
``after-submit``: submit_job returned (the process runs), the job id is not recorded.
At that point READY_FILE is created and the client sleeps until the test SIGKILLs it:
the two moments a kill -9 cannot be aimed at from outside.

``start-on``: the interpreter starts and loads the CLI, creates ``READY_FILE.armed``, then runs
the command as soon as READY_FILE exists: a command that must act within a few seconds of a
moment the test picks (a dead client's intent lease) without a cold start in that window.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from resumable_adapters import cli
from resumable_adapters.local import LocalProcessJob


def main() -> int:
    point, ready, separator, *cli_args = sys.argv[1:]
    assert separator == "--" and point in ("before-submit", "after-submit", "start-on")
    if point == "start-on":
        Path(ready + ".armed").touch()
        while not Path(ready).exists():
            time.sleep(0.02)
        return cli.main(cli_args)
    real_submit = LocalProcessJob.submit_job

    def held_submit(self: LocalProcessJob, reference: str) -> str:
        if point == "after-submit":
            real_submit(self, reference)
        Path(ready).write_text(reference)
        while True:
            time.sleep(60)

    LocalProcessJob.submit_job = held_submit  # type: ignore[method-assign]  # the harness's one hook
    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main())
