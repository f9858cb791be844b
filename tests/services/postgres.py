"""A real PostgreSQL server for tests, started from the server binaries installed on the machine.

Register as a pytest plugin (``pytest_plugins = ["tests.services.postgres"]``) and use:

- ``postgres_server`` (session): a :class:`PostgresServer` on a free 127.0.0.1 port, data and
  unix socket in a private temp dir, a password-protected superuser (scram-sha-256 over TCP)
  and a database ``resumable_test``.
- ``postgres_dsn`` (session): the conninfo string for that database (it carries the password).
- ``postgres_schema`` (function): a fresh, empty schema name, dropped after the test, so that
  tests sharing the server never see each other's tables.
- ``postgres_store`` (function): a fresh ``PostgresStateStore`` in that schema, closed after.
- ``start_postgres(base_dir, ...)``: a context manager for a private server (used by the tests
  that stop, crash and restart a server; the session server is never disturbed).

PostgreSQL refuses to run as root and CI runs the tests as root, so when the session is root
``initdb`` and ``postgres`` run as the ``postgres`` system user (created by the Debian package
that scripts/bootstrap.sh installs), in a temp dir chowned to it. ``postgres`` is exec'd
directly, so the PID we hold is the postmaster's own: it is written to
``$RESUMABLE_TEST_RUN_DIR/pids/`` when that is set (a crashed pytest run can still be cleaned
up) and the server is stopped by that PID only (SIGINT = fast shutdown, SIGKILL after a bound).
The tests are skipped only when no server binaries exist at all.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from resumable_adapters.postgres import PostgresStateStore

TEST_DATABASE = "resumable_test"
SUPERUSER = "resumable_test"
_START_ATTEMPTS = 4  # a free port can be taken by someone else before the server binds it
_READY_BOUND = 90.0  # seconds; a bound for a broken start, not a speed expectation
_STOP_BOUND = 30.0


def find_postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, else PATH."""
    candidates = []
    for bin_dir in glob.glob("/usr/lib/postgresql/*/bin"):
        path = Path(bin_dir)
        if (path / "postgres").exists() and (path / "initdb").exists():
            with contextlib.suppress(ValueError):
                candidates.append((float(path.parent.name), path))
    if candidates:
        return max(candidates)[1]
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    return None


def free_port() -> int:
    """A port free right now on 127.0.0.1 (another process may still take it: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_file(name: str) -> Path | None:
    run_dir = os.environ.get("RESUMABLE_TEST_RUN_DIR")
    if not run_dir:
        return None
    pids = Path(run_dir) / "pids"
    pids.mkdir(parents=True, exist_ok=True)
    return pids / f"{name}.pid"


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server: the ``postgres`` system user when we are root, else ourselves."""

    uid: int
    gid: int

    @classmethod
    def for_this_session(cls) -> _RunAs | None:
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(
                "running as root, and PostgreSQL refuses to run as root, but there is no "
                "'postgres' system user to run it as (install the postgresql package: "
                "scripts/bootstrap.sh does)"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def popen_kwargs(self) -> dict[str, Any]:
        # extra_groups=[] drops root's supplementary groups; the PID stays the exec'd binary's.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _server_env() -> dict[str, str]:
    # PG* variables of the caller (PGDATA, PGPORT, PGHOST...) must not redirect our server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


@dataclass
class PostgresServer:
    """One postmaster on 127.0.0.1:``port`` with its data dir and socket under ``base_dir``."""

    base_dir: Path
    bin_dir: Path
    port: int
    password: str
    pid_name: str
    run_as: _RunAs | None
    user: str = SUPERUSER
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _pid_path: Path | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def dsn(self, dbname: str = TEST_DATABASE, **extra: Any) -> str:
        """A TCP conninfo string (password included: this is what users pass the store)."""
        return make_conninfo(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=10,
            **extra,
        )

    def connect(self, dbname: str = TEST_DATABASE, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(dbname), **kwargs)

    # -- lifecycle ------------------------------------------------------------------------

    def init(self) -> None:
        """initdb, as the server's user, with a password for TCP and trust on the private socket."""
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self.socket_dir.mkdir(mode=0o700)
        if self.run_as is not None:
            for path in (self.base_dir, pwfile, self.socket_dir):
                os.chown(path, self.run_as.uid, self.run_as.gid)
        command = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E", "UTF8",
            "--no-locale",
            "--no-sync",  # initdb's own fsync only; the running server keeps fsync on
        ]  # fmt: skip
        result = subprocess.run(
            command,
            cwd=self.base_dir,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            **(self.run_as.popen_kwargs() if self.run_as else {}),
        )
        pwfile.unlink()
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed ({result.returncode}):\n"
                f"{result.stdout.decode(errors='replace')}\n{result.stderr.decode(errors='replace')}"
            )

    def start(self) -> None:
        """Start the postmaster and wait until it accepts connections (same port on a restart)."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"PostgreSQL already running (pid {self.process.pid})")
        command = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.socket_dir}",
            # Small: other sessions share a 2-core machine. Durability settings stay default
            # (fsync, synchronous_commit on, full_page_writes): the store is tested on them.
            "-c", "shared_buffers=16MB",
            "-c", "max_connections=60",
            "-c", "huge_pages=off",
            "-c", "logging_collector=off",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.base_dir,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a ^C at the terminal must not shut it down behind our back.
                start_new_session=True,
                **(self.run_as.popen_kwargs() if self.run_as else {}),
            )
        self.starts += 1
        self._pid_path = _pid_file(self.pid_name)
        if self._pid_path is not None:
            self._pid_path.write_text(f"{self.process.pid}\n")
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + _READY_BOUND
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._forget_pid()
                raise _StartFailed(
                    f"postgres exited with {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc  # starting up / not listening yet
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not accept connections: {last}\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = _STOP_BOUND) -> None:
        """Stop the postmaster by its PID: SIGINT = fast shutdown, SIGQUIT = immediate (a crash:
        no checkpoint, WAL replayed at the next start); SIGKILL when it outlives *timeout*."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout)
        self._forget_pid()

    def crash(self) -> None:
        """Immediate shutdown: what a server crash leaves behind, recovered from WAL on start."""
        self.stop(signal.SIGQUIT)

    def _forget_pid(self) -> None:
        if self._pid_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._pid_path.unlink()
            self._pid_path = None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- helpers for tests ----------------------------------------------------------------

    def create_database(self, name: str) -> None:
        with self.connect("postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class _StartFailed(RuntimeError):
    pass


@contextlib.contextmanager
def start_postgres(base_dir: Path | None = None, *, pid_name: str = "postgres") -> Iterator[PostgresServer]:
    """A private PostgreSQL server with database ``resumable_test``, stopped and removed on exit.

    *base_dir* defaults to a new temp dir (under /tmp, which the ``postgres`` user can reach;
    pytest's own tmp dirs are 0700 root's). Skips the test when no server binaries exist.
    """
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, postgres) not found under "
            "/usr/lib/postgresql/*/bin or on PATH; scripts/bootstrap.sh installs them"
        )
    run_as = _RunAs.for_this_session()
    owned_dir = base_dir is None
    base = Path(tempfile.mkdtemp(prefix="resumable-pg-")) if base_dir is None else base_dir
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    server = PostgresServer(
        base_dir=base,
        bin_dir=bin_dir,
        port=free_port(),
        password=secrets.token_urlsafe(18),
        pid_name=pid_name,
        run_as=run_as,
    )
    try:
        server.init()
        for attempt in range(_START_ATTEMPTS):
            try:
                server.start()
                break
            except _StartFailed:
                # Most likely the port was taken between free_port() and bind(): try another.
                if attempt == _START_ATTEMPTS - 1 or "could not" not in server.log_tail():
                    raise
                server.port = free_port()
        server.create_database(TEST_DATABASE)
        yield server
    finally:
        server.stop()
        if owned_dir:
            shutil.rmtree(base, ignore_errors=True)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with start_postgres(pid_name="postgres") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.dsn(TEST_DATABASE)


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema for one test (dropped with everything in it afterwards)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def postgres_store(postgres_dsn: str, postgres_schema: str) -> Iterator[PostgresStateStore]:
    """A fresh, empty PostgresStateStore (its own schema) for the store contract suite."""
    from resumable_adapters.postgres import PostgresStateStore

    store = PostgresStateStore(postgres_dsn, schema=postgres_schema)
    try:
        yield store
    finally:
        store.close()
