"""A real Spark standalone cluster for tests, started from the pyspark package in the venv.

Register as a pytest plugin (``pytest_plugins = ["tests.services.spark"]``) and use:

- ``spark_cluster`` (session): a master with the REST submission server enabled and one
  worker, on free 127.0.0.1 ports. A :class:`SparkCluster`: ``rest_url``
  (``http://127.0.0.1:<port>``, for ``/v1/submissions/...``), ``master_url``
  (``spark://127.0.0.1:<port>``), ``web_ui_url`` (the master's UI, ``/json/`` lists drivers),
  ``worker_web_ui_url``, ``drivers()`` (the master's ``/json/`` active + completed drivers).
- ``spark_driver_jar`` (session): a :class:`DriverJar` compiled with ``javac`` into a tmp
  dir; its main class sleeps ``argv[0]`` seconds (or, when ``argv[0]`` is a path, runs until that
  file exists: held until the test releases it) then exits with code ``argv[1]``.
  ``app_resource`` is the ``file:`` URL a CreateSubmissionRequest wants.
- ``spark_multistage_jar`` (session): a real application (a SparkContext) with several stages,
  one job held running until the file ``argv[0]`` exists (``MULTISTAGE_MAIN_CLASS``).
- ``start_spark_cluster(base_dir, ...)``: a context manager for a private cluster (for
  instance with FILESYSTEM recovery, ``restart_master()`` keeping its ports, or a JWS
  filter on the REST server, then pass ``ready_auth``). Used by the master-restart and auth tests.

Every JVM is started here, its PID written to ``$RESUMABLE_TEST_RUN_DIR/pids/`` when that
is set (so a crashed pytest run can still be cleaned up), and stopped by that PID only.
Memory is kept small: other sessions share the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.services.processes import forget_pid, log_tail, record_pid, stop_process
from tests.services.processes import free_port as free_port  # the tests' import of it

DRIVER_MAIN_CLASS = "resumabletest.SleepExit"
_DRIVER_SOURCE = """\
package resumabletest;

// Sleeps argv[0] seconds (default 1), then exits with code argv[1] (default 0). An argv[0] that is
// not a number is a file: the driver runs until that file exists (held until the test releases it,
// at most 10 minutes, so nothing outlives a test run).
public final class SleepExit {
    public static void main(String[] args) throws Exception {
        String first = args.length > 0 ? args[0] : "1";
        int code = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        double seconds;
        try {
            seconds = Double.parseDouble(first);
        } catch (NumberFormatException notANumber) {
            seconds = -1;
        }
        if (seconds >= 0) {
            Thread.sleep((long) (seconds * 1000));
        } else {
            long until = System.currentTimeMillis() + 600_000L;
            java.nio.file.Path release = java.nio.file.Paths.get(first);
            while (!java.nio.file.Files.exists(release) && System.currentTimeMillis() < until) Thread.sleep(100);
        }
        System.out.println("SleepExit done, exiting with " + code);
        System.exit(code);
    }
}
"""


def spark_home() -> Path:
    import pyspark  # the package ships a whole Spark distribution

    return Path(pyspark.__file__).parent


def _get_json(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
        return json.loads(response.read())


@dataclass
class _Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop this JVM by its PID (spark-class execs java, so the PID is the JVM's)."""
        stop_process(self.process, sig, timeout)
        forget_pid(f"{self.name}-{self.process.pid}")

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)


@dataclass
class SparkCluster:
    """One master (REST enabled) and one worker, both on 127.0.0.1."""

    base_dir: Path
    rest_port: int
    master_port: int
    web_ui_port: int
    worker_web_ui_port: int
    master_properties: dict[str, str]
    spark_home: Path = field(default_factory=spark_home)
    master: _Daemon | None = None
    worker: _Daemon | None = None
    restarts: int = 0
    # Something with .header() -> "Bearer ..." when the REST server requires auth (JWSFilter).
    rest_auth: Any = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def web_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.web_ui_port}"

    @property
    def worker_web_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_web_ui_port}"

    @property
    def spark_submit(self) -> Path:
        return self.spark_home / "bin" / "spark-submit"

    def env(self) -> dict[str, str]:
        """The environment every Spark process of this cluster runs with."""
        conf_dir = self.base_dir / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)  # empty: no stray spark-defaults.conf
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(self.spark_home),
            SPARK_CONF_DIR=str(conf_dir),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_LOCAL_HOSTNAME="localhost",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOG_DIR=str(self.base_dir / "logs"),
            SPARK_PID_DIR=str(self.base_dir),
        )
        return env

    def master_state(self) -> dict[str, Any]:
        state: dict[str, Any] = _get_json(f"{self.web_ui_url}/json/")
        return state

    def drivers(self) -> list[dict[str, Any]]:
        """Every driver the master knows (active and completed)."""
        state = self.master_state()
        return list(state.get("activedrivers", [])) + list(state.get("completeddrivers", []))

    def driver_ids(self) -> set[str]:
        return {d["id"] for d in self.drivers()}

    # -- lifecycle -------------------------------------------------------------------------

    def _spawn(self, name: str, main_class: str, args: list[str]) -> _Daemon:
        log_path = self.base_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [str(self.spark_home / "bin" / "spark-class"), main_class, *args],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.base_dir,
            )
        record_pid(f"{name}-{process.pid}", process.pid)
        return _Daemon(name, process, log_path)

    def start_master(self, timeout: float = 60.0) -> None:
        props = self.base_dir / "master.properties"
        props.write_text("".join(f"{k} {v}\n" for k, v in self.master_properties.items()))
        self.master = self._spawn(
            "spark-master",
            "org.apache.spark.deploy.master.Master",
            [
                "--host", "127.0.0.1",
                "--port", str(self.master_port),
                "--webui-port", str(self.web_ui_port),
                "--properties-file", str(props),
            ],
        )
        self._wait(self._master_ready, self.master, timeout, "master REST readyz")

    def start_worker(self, timeout: float = 60.0) -> None:
        work_dir = self.base_dir / "work"
        work_dir.mkdir(exist_ok=True)
        self.worker = self._spawn(
            "spark-worker",
            "org.apache.spark.deploy.worker.Worker",
            [
                "--host", "127.0.0.1",
                "--port", str(free_port()),
                "--webui-port", str(self.worker_web_ui_port),
                "--cores", "4",  # caps concurrent 1-core drivers, not CPU use
                "--memory", "2g",
                "--work-dir", str(work_dir),
                self.master_url,
            ],
        )
        self._wait(self._worker_alive, self.worker, timeout, "worker ALIVE at the master")

    def stop_master(self, sig: int = signal.SIGTERM) -> None:
        if self.master is not None:
            self.master.stop(sig)
            self.master = None

    def restart_master(self, *, sig: int = signal.SIGKILL, down_for: float = 0.0) -> None:
        """Stop the master (SIGKILL by default: a crash), then start it on the same ports."""
        self.stop_master(sig)
        if down_for:
            time.sleep(down_for)
        self.restarts += 1
        self.start_master()

    def stop(self) -> None:
        # The worker first: on SIGTERM it kills its drivers, so no driver JVM outlives the test.
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.stop_master()

    # -- readiness -------------------------------------------------------------------------

    def _master_ready(self) -> bool:
        headers = {"Authorization": self.rest_auth.header()} if self.rest_auth is not None else None
        if not _get_json(f"{self.rest_url}/v1/submissions/readyz", headers=headers).get("success"):
            return False
        # Our master, not another session's that took a port we were told was free.
        return self.master_state().get("url") == self.master_url

    def _worker_alive(self) -> bool:
        return int(self.master_state().get("aliveworkers", 0)) >= 1

    def wait_master_alive(self, timeout: float = 60.0) -> None:
        """After a restart with recovery: wait until the master left RECOVERING."""
        assert self.master is not None
        self._wait(lambda: self.master_state().get("status") == "ALIVE", self.master, timeout, "ALIVE")

    def _wait(self, probe: Any, daemon: _Daemon, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if daemon.process.poll() is not None:
                raise RuntimeError(f"{daemon.name} exited ({daemon.process.returncode}):\n{daemon.log_tail()}")
            with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
                if probe():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}:\n{daemon.log_tail()}")
            time.sleep(0.25)


@contextlib.contextmanager
def start_spark_cluster(
    base_dir: Path,
    *,
    with_worker: bool = True,
    recovery_dir: Path | None = None,
    extra_master_properties: Mapping[str, str] | None = None,
    ready_auth: Any = None,
    attempts: int = 3,
) -> Iterator[SparkCluster]:
    """A cluster on free ports, stopped on exit; retried on new ports if one was taken meanwhile."""
    base_dir.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(attempts):
        rest_port, master_port, web_ui_port, worker_ui_port = (free_port() for _ in range(4))
        properties = {
            "spark.master.rest.enabled": "true",  # off by default since Spark 4
            "spark.master.rest.host": "127.0.0.1",
            "spark.master.rest.port": str(rest_port),
            "spark.ui.showConsoleProgress": "false",
        }
        if recovery_dir is not None:
            recovery_dir.mkdir(parents=True, exist_ok=True)
            properties["spark.deploy.recoveryMode"] = "FILESYSTEM"
            properties["spark.deploy.recoveryDirectory"] = str(recovery_dir)
        properties.update(extra_master_properties or {})
        cluster = SparkCluster(
            base_dir=base_dir,
            rest_port=rest_port,
            master_port=master_port,
            web_ui_port=web_ui_port,
            worker_web_ui_port=worker_ui_port,
            master_properties=properties,
            rest_auth=ready_auth,
        )
        try:
            # The worker only after the master answers: one that connects while the master
            # boots loses its registration and retries only 10 s later.
            cluster.start_master()
            if with_worker:
                cluster.start_worker()
        except RuntimeError as exc:
            cluster.stop()
            last_error = exc
            continue
        try:
            yield cluster
        finally:
            cluster.stop()
        return
    raise RuntimeError(f"could not start a Spark cluster after {attempts} attempts") from last_error


@dataclass(frozen=True)
class DriverJar:
    """A tiny driver: ``main_class`` sleeps ``argv[0]`` seconds, then exits with ``argv[1]``."""

    jar: Path
    main_class: str = DRIVER_MAIN_CLASS

    @property
    def app_resource(self) -> str:
        return self.jar.as_uri()


def compile_driver_jar(directory: Path) -> DriverJar:
    src = directory / "src" / "resumabletest"
    src.mkdir(parents=True, exist_ok=True)
    (src / "SleepExit.java").write_text(_DRIVER_SOURCE)
    classes = directory / "classes"
    subprocess.run(
        ["javac", "--release", "17", "-d", str(classes), str(src / "SleepExit.java")],
        check=True,
        capture_output=True,
    )
    jar = directory / "sleep-exit.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, capture_output=True)
    return DriverJar(jar=jar)


MULTISTAGE_MAIN_CLASS = "resumabletest.MultiStage"
_MULTISTAGE_SOURCE = """\
package resumabletest;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

// A real application with several stages: a shuffle job (two stages of 4 tasks), a job whose
// 4 tasks wait until the file argv[0] exists (held running until the test releases it), and a
// job that reuses the shuffle, so its map stage is skipped. No app name set here: the one the
// submission (or the master) gives is kept.
public final class MultiStage {
    public static void main(String[] args) throws Exception {
        final String release = args[0];
        JavaSparkContext sc = new JavaSparkContext(new SparkConf());
        List<Integer> numbers = new ArrayList<>();
        for (int i = 0; i < 1000; i++) numbers.add(i);
        JavaPairRDD<Integer, Integer> sums = sc.parallelize(numbers, 4)
            .mapToPair(x -> new Tuple2<>(x % 10, x)).reduceByKey(Integer::sum, 4);
        sums.count();
        sc.parallelize(Arrays.asList(0, 1, 2, 3), 4).map(x -> {
            while (!Files.exists(Paths.get(release))) Thread.sleep(100);
            return x;
        }).count();
        sums.collect();
        sc.stop();
    }
}
"""


def compile_multistage_jar(directory: Path) -> DriverJar:
    """The MultiStage application, compiled against the Spark jars pyspark ships."""
    src = directory / "src" / "resumabletest"
    src.mkdir(parents=True, exist_ok=True)
    (src / "MultiStage.java").write_text(_MULTISTAGE_SOURCE)
    classes = directory / "classes"
    subprocess.run(
        ["javac", "--release", "17", "-cp", str(spark_home() / "jars" / "*"), "-d", str(classes),
         str(src / "MultiStage.java")],
        check=True,
        capture_output=True,
    )
    jar = directory / "multi-stage.jar"
    subprocess.run(["jar", "cf", str(jar), "-C", str(classes), "."], check=True, capture_output=True)
    return DriverJar(jar=jar, main_class=MULTISTAGE_MAIN_CLASS)


@pytest.fixture(scope="session")
def spark_multistage_jar(tmp_path_factory: pytest.TempPathFactory) -> DriverJar:
    return compile_multistage_jar(tmp_path_factory.mktemp("spark-multistage"))


@pytest.fixture(scope="session")
def spark_driver_jar(tmp_path_factory: pytest.TempPathFactory) -> DriverJar:
    return compile_driver_jar(tmp_path_factory.mktemp("spark-driver"))


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    with start_spark_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster
