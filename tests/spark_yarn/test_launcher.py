"""SparkSubmitLauncher on its own: what reaches the command line, what a failure proves, secrets scrubbed."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from resumable_adapters.spark._launcher import SparkSubmitLauncher, ambiguous_failure, properties_text, usage_rejection
from resumable_core import SubmissionRejected, TransientError

SECRET = "hunter2-very-secret-value"


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "spark-submit"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_conf_goes_to_a_private_properties_file_not_the_command_line(tmp_path: Path) -> None:
    # The script reports its argv, the file's mode and content: what spark-submit would see.
    report = tmp_path / "report.json"
    launcher = SparkSubmitLauncher(script(tmp_path, f"""
python3 - "$@" <<'PY'
import json, os, stat, sys
f = sys.argv[2]
json.dump({{"argv": sys.argv[1:], "mode": stat.S_IMODE(os.stat(f).st_mode), "text": open(f).read(),
           "dir_mode": stat.S_IMODE(os.stat(os.path.dirname(f)).st_mode)}}, open("{report}", "w"))
PY
"""))
    result = launcher.launch(["--master", "yarn", "app.jar"], {"spark.x.password": SECRET, "spark.a": "b=c"})
    assert result.returncode == 0
    seen = json.loads(report.read_text())
    assert SECRET not in " ".join(seen["argv"])
    assert seen["argv"][1:3] == [seen["argv"][1], "--load-spark-defaults"] and seen["argv"][0] == "--properties-file"
    assert seen["mode"] == 0o600 and seen["dir_mode"] == 0o700
    assert f"spark.x.password={SECRET}" in seen["text"] and "spark.a=b=c" in seen["text"]
    assert not Path(seen["argv"][1]).exists()  # removed once spark-submit ended


def test_properties_text_escapes_what_java_would_misread() -> None:
    text = properties_text({"spark.k": " lead\nnew\\line", "spark.key with=sep": "v"})
    assert "spark.k=\\ lead\\nnew\\\\line\n" in text
    assert "spark.key\\ with\\=sep=v\n" in text


def test_secrets_are_scrubbed_from_a_failure_and_an_exit_is_ambiguous(tmp_path: Path) -> None:
    launcher = SparkSubmitLauncher(script(tmp_path, f"""
echo 'Exception in thread "main" java.lang.IllegalStateException: bad {SECRET}' >&2
exit 1
"""))
    result = launcher.launch(["x"], {}, secrets=[SECRET])
    assert result.returncode == 1 and SECRET not in result.output
    assert usage_rejection("submit", result) is None  # not spark-submit's own argument check
    error = ambiguous_failure("submit", result)
    assert isinstance(error, TransientError) and "IllegalStateException" in str(error) and SECRET not in str(error)


def test_spark_submits_own_argument_error_proves_nothing_was_created(tmp_path: Path) -> None:
    launcher = SparkSubmitLauncher(script(tmp_path, """
echo 'Error: Unrecognized option: --bogus' >&2
echo 'Usage: spark-submit [options] <app jar | python file | R file> [app arguments]' >&2
exit 1
"""))
    rejection = usage_rejection("submit", launcher.launch(["x"], {}))
    assert isinstance(rejection, SubmissionRejected) and "Unrecognized option: --bogus" in str(rejection)


def test_a_launcher_that_cannot_start_is_a_rejection(tmp_path: Path) -> None:
    with pytest.raises(SubmissionRejected, match="cannot start"):
        SparkSubmitLauncher(str(tmp_path / "missing")).launch([], {})
    not_executable = tmp_path / "plain"
    not_executable.write_text("#!/bin/sh\n")
    assert not not_executable.stat().st_mode & stat.S_IXUSR
    with pytest.raises(SubmissionRejected):
        SparkSubmitLauncher(str(not_executable)).launch([], {})


def test_a_launch_past_its_timeout_is_killed_with_its_group_and_is_transient(tmp_path: Path) -> None:
    pid_file = tmp_path / "child-pid"
    # A child of the launcher (as spark-class's helper JVM is) must die with it. The child says
    # its pid before the launch goes on to hang; the test then waits for that process to be gone,
    # not for a fixed time that a busy machine could stretch either way.
    child = f"sh -c 'echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file}; exec sleep 60' &"
    launcher = SparkSubmitLauncher(
        script(tmp_path, f"{child}\nwhile [ ! -e {pid_file} ]; do sleep 0.01; done\nsleep 30\n"), timeout=2.0)
    with pytest.raises(TransientError, match="may have submitted"):
        launcher.launch([], {})
    assert pid_file.exists(), "the launch timed out before its child started"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, f"the launch's child (pid {pid}) outlived it"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether *pid* still runs the child's ``sleep 60`` (a zombie or a reused pid does not)."""
    try:
        return b"sleep\x0060" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
