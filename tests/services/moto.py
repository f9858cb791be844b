"""moto in server mode: a real AWS API emulator on 127.0.0.1, for the amazon provider's operators.

Use the ``moto_server`` fixture (module scope: each test module gets a clean
emulator), or ``start_moto_server(log_dir)`` as a context manager. A
:class:`MotoServer` has ``endpoint_url``, ``airflow_connection`` (the JSON of an
``aws`` connection pointing at it, for ``AIRFLOW_CONN_AWS_DEFAULT``), ``client(service)``
and ``set_transition(model, progression, times)`` (moto's state manager: a Glue
job run moves STARTING -> RUNNING -> SUCCEEDED, one step every *times* reads).

The server is this module run as a child process (``python -m tests.services.moto
--port N``): moto's own server, plus one thing moto lacks. moto leaves every
Redshift Data statement STARTED forever; here a statement is FINISHED on its
third DescribeStatement, or on the Nth when its SQL holds ``/* polls=N */``, and
never when it holds ``/* hold */`` (for kill tests). CancelStatement is moto's own.
Its PID is written to ``$RESUMABLE_TEST_RUN_DIR/pids/`` and it is stopped by that PID.
The credentials are moto's fixed fakes ("testing"): nothing secret.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services.processes import forget_pid, free_port, record_pid, stop_process

REGION = "us-east-1"
FAKE_KEY = "testing"  # moto accepts any credentials; these are its documented fakes
DEFAULT_POLLS = 3
_POLLS = re.compile(r"/\*\s*polls=(\d+)\s*\*/")
_HOLD = "/* hold */"


@dataclass
class MotoServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def airflow_connection(self) -> str:
        return json.dumps({
            "conn_type": "aws", "login": FAKE_KEY, "password": FAKE_KEY,
            "extra": {"endpoint_url": self.endpoint_url, "region_name": REGION},
        })

    def client(self, service: str) -> Any:
        import boto3  # type: ignore[import-untyped]  # no stubs installed; the tests use few calls

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}{path}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10):  # loopback only
            pass

    def set_transition(self, model_name: str, progression: str = "manual", times: int = 2) -> None:
        transition: dict[str, Any] = {"progression": progression}
        if progression == "manual":
            transition["times"] = times
        self._post("/moto-api/state-manager/set-transition", {"model_name": model_name, "transition": transition})

    def reset(self) -> None:
        self._post("/moto-api/reset", {})

    def stop(self, timeout: float = 10.0) -> None:
        stop_process(self.process, timeout=timeout)
        forget_pid(f"moto-{self.process.pid}")


@contextlib.contextmanager
def start_moto_server(log_dir: Path, timeout: float = 60.0, module: str = "tests.services.moto") -> Iterator[MotoServer]:
    """moto's server run as *module* (this one, or a layer of its own such as tests.services.moto_emr)."""
    for _attempt in range(3):  # a free port may be taken before the server binds it
        port = free_port()
        log_path = log_dir / f"moto-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "--port", str(port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
            )
        record_pid(f"moto-{process.pid}", process.pid)
        server = MotoServer(process, port, log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{server.endpoint_url}/moto-api/data.json", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        else:
            server.stop()
            continue
        try:
            yield server
        finally:
            server.stop()
        return
    raise RuntimeError(f"moto server did not start; log: {log_path.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with start_moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


# -- the server process ----------------------------------------------------------------------


def _finish_redshift_statements() -> None:
    """Make moto's Redshift Data statements end, counting DescribeStatement calls per statement."""
    from moto.redshiftdata.models import RedshiftDataAPIServiceBackend

    original = RedshiftDataAPIServiceBackend.describe_statement
    described: dict[str, int] = {}

    def describe_statement(self: Any, statement_id: str) -> Any:
        statement = original(self, statement_id)
        if statement.status == "STARTED" and _HOLD not in statement.query_string:
            described[statement_id] = described.get(statement_id, 0) + 1
            match = _POLLS.search(statement.query_string)
            if described[statement_id] >= (int(match.group(1)) if match else DEFAULT_POLLS):
                statement.status = "FINISHED"
        return statement

    RedshiftDataAPIServiceBackend.describe_statement = describe_statement  # type: ignore[method-assign]  # the one thing moto lacks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _finish_redshift_statements()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
