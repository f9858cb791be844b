"""A real Flink session cluster for tests, started from the apache-flink wheels in the venv.

``apache-flink`` ships ``pyflink/bin`` and ``apache-flink-libraries`` ``pyflink/lib``
(installed with ``--no-deps``: scripts/bootstrap.sh); with Java 17 they are a working
distribution. Register as a pytest plugin and use:

- ``flink_cluster`` (session, started on first use): one JobManager and one TaskManager
  (4 slots) on free 127.0.0.1 ports, a private conf dir, logs and working dirs under a
  per-worker tmp dir. A :class:`FlinkCluster`: ``rest_url``, ``jobs()`` (``/jobs/overview``).
- ``flink_count_jar`` (session): :class:`CountJar`, a streaming job compiled from Java source
  with ``javac`` against the cluster's jars. It counts ticks in checkpointed state and is
  steered through files in a control directory (:class:`Control`): held running until the
  test writes ``finish`` or ``fail``; it writes the count it restored from.

Each JVM is started here, its PID written to ``$RESUMABLE_TEST_RUN_DIR/pids/`` when that is
set, and stopped by that PID only. Memory is kept small: other sessions share the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services.processes import forget_pid, free_port, log_tail, record_pid, stop_process

COUNT_MAIN_CLASS = "resumabletest.CountJob"
_SOURCE = Path(__file__).with_name("flink_count_job.java")


def flink_home() -> Path:
    import pyflink  # type: ignore[import-untyped]  # the package ships the distribution's bin/ and lib/

    return Path(pyflink.__file__).parent


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


def _java_opts(home: Path) -> str:
    """The JVM's --add-opens list from the distribution's own config (Flink needs it on Java 17)."""
    stock = (home / "conf" / "config.yaml").read_text()
    match = re.search(r"^env:\n  java:\n    opts:\n      all: (.*)$", stock, re.M)
    return match.group(1).strip() if match else ""


@dataclass
class _Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        stop_process(self.process, sig, timeout)  # start-foreground execs java: the PID is the JVM's
        forget_pid(f"{self.name}-{self.process.pid}")

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


@dataclass
class FlinkCluster:
    base_dir: Path
    rest_port: int
    rpc_port: int
    home: Path = field(default_factory=flink_home)
    jobmanager: _Daemon | None = None
    taskmanager: _Daemon | None = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def savepoint_dir(self) -> Path:
        return self.base_dir / "savepoints"

    def jobs(self) -> dict[str, str]:
        """Every job the JobManager knows: id -> state."""
        return {j["jid"]: j["state"] for j in _get_json(f"{self.rest_url}/jobs/overview")["jobs"]}

    def write_config(self) -> Path:
        conf = self.base_dir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        for name in ("log4j-console.properties",):
            (conf / name).write_text((self.home / "conf" / name).read_text())
        settings = {
            "jobmanager.bind-host": "127.0.0.1",
            "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": str(self.rpc_port),
            "jobmanager.memory.process.size": "800m",
            "taskmanager.bind-host": "127.0.0.1",
            "taskmanager.host": "127.0.0.1",
            "taskmanager.numberOfTaskSlots": "4",
            "taskmanager.memory.process.size": "1100m",
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "rest.port": str(self.rest_port),
            "parallelism.default": "1",
            "process.working-dir": str(self.base_dir / "work"),
            "io.tmp.dirs": str(self.base_dir / "tmp"),
            "web.tmpdir": str(self.base_dir / "web"),
            "execution.checkpointing.savepoint-dir": self.savepoint_dir.as_uri(),
            # C1 only and the serial collector: a quicker start and fewer threads on a small shared machine.
            "env.java.opts.all": f"{_java_opts(self.home)} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        }
        for name in ("work", "tmp", "web", "log", "savepoints"):
            (self.base_dir / name).mkdir(exist_ok=True)
        (conf / "config.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
        return conf

    def _env(self, conf: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(FLINK_CONF_DIR=str(conf), FLINK_LOG_DIR=str(self.base_dir / "log"),
                   FLINK_PID_DIR=str(self.base_dir), FLINK_IDENT_STRING=f"test{os.getpid()}")
        return env

    def _spawn(self, name: str, script: str, conf: Path) -> _Daemon:
        log_path = self.base_dir / f"{name}.out"
        with open(log_path, "ab") as log:
            process = subprocess.Popen([str(self.home / "bin" / script), "start-foreground"], env=self._env(conf),
                                       stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=self.base_dir)
        record_pid(f"{name}-{process.pid}", process.pid)
        return _Daemon(name, process, log_path)

    def start(self, timeout: float = 120.0) -> None:
        conf = self.write_config()
        # Both at once: the TaskManager retries its registration until the JobManager is up.
        self.jobmanager = self._spawn("flink-jobmanager", "jobmanager.sh", conf)
        self.taskmanager = self._spawn("flink-taskmanager", "taskmanager.sh", conf)
        self._wait(self._ready, timeout, "a JobManager with one TaskManager")

    def _ready(self) -> bool:
        overview = _get_json(f"{self.rest_url}/overview")
        if int(overview.get("taskmanagers", 0)) < 1:
            return False
        # Ours, not another session's that took a port we were told was free.
        config = {e["key"]: e["value"] for e in _get_json(f"{self.rest_url}/jobmanager/config")}
        return config.get("process.working-dir") == str(self.base_dir / "work")

    def _wait(self, probe: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for daemon in (self.jobmanager, self.taskmanager):
                if daemon is not None and daemon.process.poll() is not None:
                    raise RuntimeError(f"{daemon.name} exited ({daemon.process.returncode}):\n{daemon.log_tail()}")
            with contextlib.suppress(OSError, ValueError, KeyError, urllib.error.URLError):
                if probe():
                    return
            if time.monotonic() > deadline:
                tails = "\n".join(d.log_tail() for d in (self.jobmanager, self.taskmanager) if d is not None)
                raise RuntimeError(f"timed out waiting for {what}:\n{tails}")
            time.sleep(0.25)

    def stop(self) -> None:
        for daemon in (self.taskmanager, self.jobmanager):
            if daemon is not None:
                daemon.stop()
        self.taskmanager = self.jobmanager = None


@contextlib.contextmanager
def start_flink_cluster(base_dir: Path, *, attempts: int = 3) -> Iterator[FlinkCluster]:
    """A cluster on free ports, stopped on exit; retried on new ports if one was taken meanwhile."""
    last: Exception | None = None
    for attempt in range(attempts):
        directory = base_dir / f"cluster-{attempt}"
        directory.mkdir(parents=True, exist_ok=True)
        cluster = FlinkCluster(base_dir=directory, rest_port=free_port(), rpc_port=free_port())
        try:
            cluster.start()
        except RuntimeError as exc:
            cluster.stop()
            last = exc
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return
    raise RuntimeError(f"could not start a Flink cluster after {attempts} attempts") from last


@dataclass(frozen=True)
class CountJar:
    jar: Path
    main_class: str = COUNT_MAIN_CLASS


@dataclass(frozen=True)
class Control:
    """The files through which a test steers one CountJob (its argv[0] directory)."""

    directory: Path

    def finish(self) -> None:
        (self.directory / "finish").touch()

    def fail(self) -> None:
        (self.directory / "fail").touch()

    def clear(self) -> None:
        for name in ("finish", "fail"):
            (self.directory / name).unlink(missing_ok=True)

    def read(self, name: str) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.directory / name).read_text())
        return None

    def wait_for(self, name: str, at_least: int = 0, timeout: float = 60.0) -> int:
        """The value in file *name* once it is there and >= *at_least*."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.read(name)
            if value is not None and value >= at_least:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.directory / name} not >= {at_least} after {timeout}s (is {value})")
            time.sleep(0.05)


def compile_count_jar(directory: Path, home: Path) -> CountJar:
    src = directory / "src" / "resumabletest"
    src.mkdir(parents=True, exist_ok=True)
    (src / "CountJob.java").write_text(_SOURCE.read_text())
    classes = directory / "classes"
    subprocess.run(["javac", "--release", "17", "-nowarn", "-cp", str(home / "lib" / "*"), "-d", str(classes),
                    str(src / "CountJob.java")], check=True, capture_output=True)
    jar = directory / "count-job.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, capture_output=True)
    return CountJar(jar=jar)


@pytest.fixture(scope="session")
def flink_count_jar(tmp_path_factory: pytest.TempPathFactory) -> CountJar:
    return compile_count_jar(tmp_path_factory.mktemp("flink-jar"), flink_home())


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlinkCluster]:
    with start_flink_cluster(tmp_path_factory.mktemp("flink")) as cluster:
        yield cluster


__all__ = ["CountJar", "Control", "FlinkCluster", "compile_count_jar", "flink_home", "start_flink_cluster"]
