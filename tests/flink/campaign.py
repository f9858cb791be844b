"""A SIGKILL campaign against a real Flink session cluster, through the ``resumable flink run`` command.

``python -m tests.flink.campaign [ROUNDS]`` starts its own cluster (tests/services/flink.py),
then, per round and key: runs the command, SIGKILLs it after a random 0-3 s (before the submit,
in the submit window, or while polling), in every other round makes the job fail while nobody
watches, and reruns the command until it exits 0. It checks what must hold for any kill point:
one job per key (two where a job failed: the failed one and its resumption), exit code 0 on the
rerun, and a resumed job that went on from the checkpoint its predecessor reached. It prints the
figures docs/reliability.md quotes. Not a test: minutes of wall time on a busy machine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.paths import PYTHONPATH, REPO
from tests.services.flink import Control, compile_count_jar, flink_home, start_flink_cluster


def jobs_of(rest_url: str, control: Control) -> dict[str, str]:
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=5) as answer:  # loopback only
        jobs = json.loads(answer.read())["jobs"]
    return {j["jid"]: j["state"] for j in jobs if j["name"].endswith(str(control.directory))}


def command(rest_url: str, state: Path, key: str, jar: Path, main_class: str, control: Control) -> list[str]:
    return [sys.executable, "-m", "resumable_adapters.cli", "flink", "run", "--json", "--state", str(state),
            "--key", key, "--jobmanager", rest_url, "-c", main_class, "-D", "restart-strategy.type=none",
            "-D", f"execution.checkpointing.dir={(control.directory / 'checkpoints').as_uri()}",
            "-D", "execution.checkpointing.externalized-checkpoint-retention=RETAIN_ON_CANCELLATION",
            str(jar), str(control.directory), "0", "200"]


def campaign(rounds: int, seed: int = 18) -> dict[str, Any]:
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    figures: dict[str, Any] = {"rounds": rounds, "killed_before_a_job_existed": 0, "killed_with_a_job": 0,
                               "failed_while_unwatched": 0, "resumed_from_a_checkpoint": 0,
                               "resumed_counts": [], "reruns": 0, "jobs_per_key": []}
    with tempfile.TemporaryDirectory(prefix="flink-campaign-") as tmp:
        root = Path(tmp)
        jar = compile_count_jar(root / "jar", flink_home())
        with start_flink_cluster(root / "cluster") as cluster:
            for round_no in range(rounds):
                control = Control(root / f"round-{round_no}")
                control.directory.mkdir()
                argv = command(cluster.rest_url, root / "state.db", f"key-{round_no}", jar.jar, jar.main_class,
                               control)
                first = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.0, 3.0))
                first.send_signal(signal.SIGKILL)
                first.wait(30)
                existed = bool(jobs_of(cluster.rest_url, control))
                figures["killed_with_a_job" if existed else "killed_before_a_job_existed"] += 1
                fail = round_no % 2 == 1 and existed
                if fail:
                    deadline = time.monotonic() + 60
                    while not list((control.directory / "checkpoints").glob("*/chk-*/_metadata")):
                        assert time.monotonic() < deadline, "no checkpoint completed"
                        time.sleep(0.1)  # a completed checkpoint first: there is something to resume from
                    control.fail()
                    deadline = time.monotonic() + 60
                    while any(s == "RUNNING" for s in jobs_of(cluster.rest_url, control).values()):
                        assert time.monotonic() < deadline, "the job did not fail"
                        time.sleep(0.1)
                    figures["failed_while_unwatched"] += 1
                control.clear()
                control.finish()  # whatever runs next ends once it started (and restored)
                while True:
                    figures["reruns"] += 1
                    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
                    if done.returncode == 0:
                        break
                    assert figures["reruns"] < 3 * rounds, done.stdout[-2000:] + done.stderr[-2000:]
                jobs = jobs_of(cluster.rest_url, control)
                figures["jobs_per_key"].append(len(jobs))
                assert len(jobs) == (2 if fail else 1), (round_no, jobs)
                restored = control.read("restored")
                if fail:  # the resubmission went on from the checkpoint its predecessor reached
                    assert restored is not None and restored > 0, (round_no, restored)
                    figures["resumed_from_a_checkpoint"] += 1
                    figures["resumed_counts"].append(restored)
                print(json.dumps({"round": round_no, "jobs": len(jobs), "failed": fail, "restored": restored}),
                      flush=True)
    return figures


if __name__ == "__main__":
    print(json.dumps(campaign(int(sys.argv[1]) if len(sys.argv) > 1 else 10)))
