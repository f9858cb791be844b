"""LocalProcessJob against real processes: the job contract, pid reuse, a lost runner, cancel."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from resumable_adapters.local import (
    CANCELLED,
    FAILED,
    LOST,
    ORPHANED,
    RUNNING,
    SUCCEEDED,
    LocalProcessJob,
    job_name,
)
from resumable_adapters.local import _runner as records
from resumable_core import (
    InvalidArgument,
    JobNotFound,
    Poller,
    PollPolicy,
    ResumableJob,
    SubmissionRejected,
    TransientError,
)
from tests.contracts.job_contract import JobContract
from tests.local.conftest import wait_for_file, wait_until
from tests.paths import PYTHONPATH

FAST = PollPolicy(min_interval=0.02, max_interval=0.2)


class LocalHarness:
    poll = FAST

    def __init__(self, jobs_dir: Path) -> None:
        self.jobs_dir = jobs_dir

    def job(self, kind: str, spec: str = "a") -> ResumableJob[Any]:
        script = {"succeed": f"echo {spec}", "fail": f"echo {spec}; exit 3", "long": f"sleep 30 # {spec}"}[kind]
        return LocalProcessJob(["sh", "-c", script], jobs_dir=self.jobs_dir, grace_period=2.0)

    def unknown_job_id(self) -> str:
        return uuid.uuid4().hex

    def count_jobs(self) -> int:
        if not self.jobs_dir.is_dir():
            return 0
        return sum(1 for p in self.jobs_dir.iterdir() if not p.name.startswith("."))


class TestLocalProcessJobContract(JobContract):
    @pytest.fixture
    def harness(self, jobs_dir: Path) -> LocalHarness:
        return LocalHarness(jobs_dir)


def _record(jobs_dir: Path, job_id: str, name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((jobs_dir / job_id / name).read_text())
    return value


def _wait_ended(job: LocalProcessJob, job_id: str) -> str:
    return Poller(FAST).wait(job, job_id)


def test_result_names_exit_code_duration_and_output(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sh", "-c", "echo out; echo err >&2; exit 0"], jobs_dir=jobs_dir)
    job_id = job.submit_job("ref-1")
    status = _wait_ended(job, job_id)
    result = job.get_job_result(job_id, status)
    assert status == SUCCEEDED
    assert result["exit_code"] == 0 and result["signal"] is None
    assert isinstance(result["duration"], float) and result["duration"] >= 0
    assert Path(str(result["stdout"])).read_text() == "out\n"
    assert Path(str(result["stderr"])).read_text() == "err\n"


def test_failure_and_missing_command_are_failed_with_their_codes(jobs_dir: Path) -> None:
    failing = LocalProcessJob(["sh", "-c", "exit 7"], jobs_dir=jobs_dir)
    job_id = failing.submit_job("ref-fail")
    assert _wait_ended(failing, job_id) == FAILED
    assert failing.get_job_result(job_id, FAILED)["exit_code"] == 7

    missing = LocalProcessJob(["/nonexistent/command"], jobs_dir=jobs_dir)
    job_id = missing.submit_job("ref-missing")
    assert _wait_ended(missing, job_id) == FAILED
    result = missing.get_job_result(job_id, FAILED)
    assert result["exit_code"] == 127 and "No such file" in str(result["error"])


def test_the_job_runs_detached_in_its_own_session(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir)
    job_id = job.submit_job("ref-detached")
    info = job.inspect(job_id)
    assert info.runner_pid is not None
    # Its own session and process group (pid == pgid == sid), and not our child:
    # nothing we do to our session or our children reaches it.
    assert os.getsid(info.runner_pid) == info.runner_pid != os.getsid(0)
    assert os.getpgid(info.runner_pid) == info.runner_pid
    with open(f"/proc/{info.runner_pid}/stat") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    assert parent != os.getpid()


def test_submit_is_idempotent_per_reference(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir)
    first = job.submit_job("same-ref")
    assert job.submit_job("same-ref") == first
    assert job.find_job_by_reference("same-ref") == first
    assert [p.name for p in jobs_dir.iterdir() if not p.name.startswith(".")] == [first]


def test_references_that_are_not_file_names_are_hashed(jobs_dir: Path) -> None:
    job = LocalProcessJob(["true"], jobs_dir=jobs_dir)
    job_id = job.submit_job("../../etc/passwd key/with spaces")
    assert job_id == job_name("../../etc/passwd key/with spaces") and "/" not in job_id
    assert (jobs_dir / job_id).is_dir()
    assert job.find_job_by_reference("../../etc/passwd key/with spaces") == job_id
    with pytest.raises(JobNotFound):
        job.get_job_status("../outside")


def test_a_reused_pid_is_not_mistaken_for_the_job_nor_signalled(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir, grace_period=1.0)
    job_id = job.submit_job("ref-reuse")
    info = job.inspect(job_id)
    assert job.get_job_status(job_id) == RUNNING
    # The job's processes die without a trace (as in a crash) ...
    os.killpg(info.runner_pid or 0, signal.SIGKILL)
    wait_until(lambda: records.process_stat(info.runner_pid or 0) is None, "the runner to die")
    # All of them: a process still carrying the job's mark keeps the job ORPHANED, not LOST.
    wait_until(lambda: not _marked(jobs_dir, job_id), "the job's processes to be gone")
    # ... and the kernel hands its pid to an unrelated process. We cannot make the
    # kernel reuse a pid on demand, so we point the record at one that is alive.
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        for name in (records.RUNNER_RECORD, records.COMMAND_RECORD):
            value = _record(jobs_dir, job_id, name)
            value["pid"] = stranger.pid  # same start time as recorded, different process
            records.write_json_durably(str(jobs_dir / job_id), name, value)
        assert job.get_job_status(job_id) == LOST
        job.cancel_job(job_id)
        assert stranger.poll() is None, "cancel signalled a process that is not the job"
    finally:
        stranger.kill()
        stranger.wait()


def _kill_runner_only(job: LocalProcessJob, job_id: str) -> int:
    """SIGKILL the job's runner, leaving its command running; return the command's pid."""
    wait_until(lambda: job.inspect(job_id).command_pid, "the command to start")
    info = job.inspect(job_id)
    os.kill(info.runner_pid or 0, signal.SIGKILL)
    wait_until(lambda: records.process_stat(info.runner_pid or 0) is None, "the runner to die")
    return info.command_pid or 0


def test_a_runner_that_vanished_without_an_exit_code_is_lost_not_success(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir, grace_period=1.0)
    job_id = job.submit_job("ref-lost")
    command_pid = _kill_runner_only(job, job_id)
    # The command runs on without its runner: still active, so nothing is submitted beside it.
    assert job.get_job_status(job_id) == ORPHANED and job.is_job_active(ORPHANED)
    os.kill(command_pid, signal.SIGKILL)
    wait_until(lambda: job.get_job_status(job_id) != ORPHANED, "the orphaned command to end")
    status = job.get_job_status(job_id)
    assert status == LOST
    assert not job.is_job_active(status) and not job.is_job_succeeded(status)
    assert job.get_job_result(job_id, status)["exit_code"] is None


def test_cancel_reaches_a_command_that_outlived_its_runner(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir, grace_period=1.0)
    job_id = job.submit_job("ref-orphan")
    command_pid = _kill_runner_only(job, job_id)
    job.cancel_job(job_id)
    assert records.process_stat(command_pid) is None
    assert job.get_job_status(job_id) == CANCELLED


def test_cancel_escalates_to_kill_after_the_grace_period(jobs_dir: Path) -> None:
    stubborn = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    job = LocalProcessJob(["sh", "-c", stubborn], jobs_dir=jobs_dir, grace_period=0.5)
    job_id = job.submit_job("ref-stubborn")
    wait_until(lambda: (jobs_dir / job_id / "stdout").read_text() == "ready\n", "the trap to be set")
    job.cancel_job(job_id)
    status = job.get_job_status(job_id)
    assert status == CANCELLED
    info = job.inspect(job_id)
    assert records.process_stat(info.command_pid or 0) is None
    job.cancel_job(job_id)  # idempotent


def test_cancel_lets_the_runner_record_a_terminated_command(jobs_dir: Path) -> None:
    job = LocalProcessJob(["sleep", "30"], jobs_dir=jobs_dir, grace_period=5.0)
    job_id = job.submit_job("ref-term")
    wait_until(lambda: job.inspect(job_id).command_pid, "the command to start")
    job.cancel_job(job_id)
    assert _wait_ended(job, job_id) == CANCELLED
    assert job.get_job_result(job_id, CANCELLED)["signal"] == signal.SIGTERM


def test_find_waits_while_a_submission_is_starting_and_tidies_dead_ones(jobs_dir: Path) -> None:
    job = LocalProcessJob(["true"], jobs_dir=jobs_dir)
    assert job.find_job_by_reference("ref-x") is None  # no jobs dir at all yet
    (jobs_dir / ".locks").mkdir(parents=True)
    # A submitter (here: a process we start) holds the reference's lock: a job may appear.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)",
         str(jobs_dir / ".locks" / "ref-x")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        stale = jobs_dir / ".tmp-ref-x-abc"
        stale.mkdir()
        with pytest.raises(TransientError):
            job.find_job_by_reference("ref-x")
        impatient = LocalProcessJob(["true"], jobs_dir=jobs_dir, start_timeout=0.2)
        with pytest.raises(TransientError):
            impatient.submit_job("ref-x")
    finally:
        holder.kill()
        holder.wait()
    # The submitter died before its job existed: nothing ran, and its leftovers go.
    assert job.find_job_by_reference("ref-x") is None
    assert not stale.exists()


def test_records_are_versioned_json_written_whole(jobs_dir: Path) -> None:
    job = LocalProcessJob(["true"], jobs_dir=jobs_dir)
    job_id = job.submit_job("ref-records")
    _wait_ended(job, job_id)
    for name in (records.RUNNER_RECORD, records.COMMAND_RECORD, records.EXIT_RECORD):
        assert _record(jobs_dir, job_id, name)["version"] == records.RECORD_VERSION
    assert not [p for p in (jobs_dir / job_id).iterdir() if p.name.endswith(".tmp")]
    assert oct((jobs_dir / job_id / records.EXIT_RECORD).stat().st_mode & 0o777) == "0o600"


def test_fingerprint_covers_command_and_directory_and_argv_must_be_a_list(jobs_dir: Path, tmp_path: Path) -> None:
    a = LocalProcessJob(["echo", "a"], jobs_dir=jobs_dir, cwd=tmp_path)
    assert a.job_fingerprint() == LocalProcessJob(["echo", "a"], jobs_dir=jobs_dir, cwd=tmp_path).job_fingerprint()
    assert a.job_fingerprint() != LocalProcessJob(["echo", "b"], jobs_dir=jobs_dir, cwd=tmp_path).job_fingerprint()
    assert a.job_fingerprint() != LocalProcessJob(["echo", "a"], jobs_dir=jobs_dir, cwd="/").job_fingerprint()
    with pytest.raises(InvalidArgument):
        LocalProcessJob("echo a", jobs_dir=jobs_dir)
    with pytest.raises(InvalidArgument):
        LocalProcessJob(None, jobs_dir=jobs_dir).submit_job("r")


def test_an_unusable_jobs_directory_is_a_definite_rejection(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    job = LocalProcessJob(["true"], jobs_dir=blocker / "jobs")
    with pytest.raises(SubmissionRejected):
        job.submit_job("ref")


def test_concurrent_submissions_of_one_reference_start_one_process(jobs_dir: Path, tmp_path: Path) -> None:
    # The job runs until every submitter has answered (a release file), not 2 s: however slowly
    # the submitters' interpreters start, each one meets the job running, never an ended one.
    release = tmp_path / "release"
    code = (
        "import sys; from resumable_adapters.local import LocalProcessJob; "
        "print(LocalProcessJob(['sh', '-c', sys.argv[2]], jobs_dir=sys.argv[1]).submit_job('shared'))"
    )
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    submitters = [
        subprocess.Popen([sys.executable, "-c", code, str(jobs_dir), wait_for_file(release)], stdout=subprocess.PIPE,
                         text=True, env=env)
        for _ in range(3)
    ]
    try:
        ids = {submitter.communicate(timeout=60)[0].strip() for submitter in submitters}
        assert ids == {"shared"}
        assert [p.name for p in jobs_dir.iterdir() if not p.name.startswith(".")] == ["shared"]
        assert LocalProcessJob(None, jobs_dir=jobs_dir).get_job_status("shared") == RUNNING
    finally:
        release.touch()


# -- the process table: a job is never lost while a process of it runs ---------------------------


def _marked(jobs_dir: Path, job_id: str) -> list[int]:
    """Pids whose environment carries the job's mark, read from /proc as the job does."""
    entry = f"{records.JOB_ENV}={os.path.realpath(jobs_dir)}/{job_id}".encode()
    pids = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if b"\0" + entry + b"\0" in b"\0" + handle.read():
                    pids.append(int(name))
        except (OSError, ValueError):
            continue
    return pids


def _runner_and_command(pids: list[int]) -> set[int]:
    """*pids* without the command's own passing children (the shell loop's ``sleep``), which
    come and go while the test looks: what must stay the same is the runner and the command."""
    kept = set()
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile: a passing child
        if comm != "sleep":
            kept.add(pid)
    return kept


def test_a_deleted_job_directory_is_not_lost_while_its_processes_run(jobs_dir: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    job = LocalProcessJob(["sh", "-c", f"{wait_for_file(go)}; exit 3"], jobs_dir=jobs_dir)
    job_id = job.submit_job("ref-deleted")
    wait_until(lambda: job.get_job_status(job_id) == RUNNING, "the job to run")
    marked = _runner_and_command(_marked(jobs_dir, job_id))
    assert len(marked) >= 2  # the runner and the command carry the mark
    shutil.rmtree(jobs_dir / job_id)
    # Not JobNotFound: that would make the client submit a second copy beside this one.
    assert job.get_job_status(job_id) == ORPHANED and job.is_job_active(ORPHANED)
    assert job.find_job_by_reference("ref-deleted") == job_id
    assert job.submit_job("ref-deleted") == job_id  # adopted, nothing started
    assert not (jobs_dir / job_id).exists() and _runner_and_command(_marked(jobs_dir, job_id)) == marked
    go.touch()
    # The runner makes the directory again to record the exit: the outcome is not lost.
    assert _wait_ended(job, job_id) == FAILED
    assert job.get_job_result(job_id, FAILED)["exit_code"] == 3


def test_a_process_the_command_started_keeps_the_job_active_and_cancel_reaches_it(jobs_dir: Path) -> None:
    # The command starts a child in a session of its own (out of the job's process
    # group), then the runner and the command are killed: only the child is left.
    script = f"{sys.executable} -c 'import os, time; os.setsid(); time.sleep(30)' & echo $! > child; wait"
    job = LocalProcessJob(["sh", "-c", script], jobs_dir=jobs_dir, cwd=jobs_dir.parent, grace_period=1.0)
    job_id = job.submit_job("ref-grandchild")
    child_file = jobs_dir.parent / "child"
    child = int(wait_until(lambda: child_file.exists() and child_file.read_text().strip(), "the child to start"))
    wait_until(lambda: records.process_stat(child) is not None and os.getsid(child) == child, "the child's setsid")
    command_pid = _kill_runner_only(job, job_id)
    os.kill(command_pid, signal.SIGKILL)
    wait_until(lambda: records.process_stat(command_pid) is None, "the command to die")
    assert job.get_job_status(job_id) == ORPHANED  # not LOST: a process of the job runs
    shutil.rmtree(jobs_dir / job_id)
    job.cancel_job(job_id)  # no records left: the marked process is what it stops
    assert records.process_stat(child) is None
    with pytest.raises(JobNotFound):
        job.get_job_status(job_id)


def test_a_runner_that_cannot_write_says_why_it_did_not_start(jobs_dir: Path) -> None:
    # A full disk, as the kernel reports it to a writer: every write of a byte fails
    # (RLIMIT_FSIZE 0: EFBIG; ENOSPC takes the same path). Only the client is limited.
    code = (
        "import resource, sys\n"
        "from resumable_adapters.local import LocalProcessJob\n"
        "from resumable_core import SubmissionRejected\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))\n"
        "try:\n"
        "    LocalProcessJob(['true'], jobs_dir=sys.argv[1]).submit_job('full')\n"
        "except SubmissionRejected as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(jobs_dir)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "failed to start" in done.stdout and os.strerror(errno.EFBIG) in done.stdout
    assert "no message" not in done.stdout
    assert [p.name for p in jobs_dir.iterdir() if not p.name.startswith(".")] == []


def test_without_a_group_signal_every_marked_process_is_signalled_in_and_out_of_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a marked process outside the runner's group, signalled first, used to count
    as the group signal, and a marked process still in that (dead runner's) group was skipped."""
    from resumable_adapters.local import _job

    job = LocalProcessJob(None, jobs_dir=tmp_path)
    info = _job.LocalJobInfo(job_id="j", directory=tmp_path, runner_pid=4242, command_pid=None, started_at=1.0,
                             ended_at=None, exit_code=None, signal=None, duration=None, error=None,
                             cancel_requested=True)
    monkeypatch.setattr(job, "_runner_alive", lambda info: False)  # nothing to send a group signal through
    monkeypatch.setattr(job, "_orphan_alive", lambda info: False)
    monkeypatch.setattr(job, "_marked_processes", lambda job_id: [(501, 9999, 1), (502, 4242, 2)])
    signalled: list[int] = []

    def signal_if_same(pid: int, start_ticks: int, signum: int) -> bool:
        signalled.append(pid)
        return True

    monkeypatch.setattr(_job, "_signal_if_same", signal_if_same)
    assert job._signal_group(info, signal.SIGTERM)
    assert signalled == [501, 502]
