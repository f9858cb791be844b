"""A real MIT Kerberos KDC for tests, on 127.0.0.1, in a private temp dir.

Register as a pytest plugin (``pytest_plugins = ["tests.services.kdc"]``) and use:

- ``kdc`` (session): a :class:`Kdc` for realm ``RESUMABLE.TEST`` on a free 127.0.0.1 port
  (UDP and TCP). ``add_principal(name)`` creates a principal with a random key and
  returns a keytab holding it; ``kinit(principal, keytab, ccache)`` fills a ticket cache
  the way a user's ``kinit`` does (the test harness shells out; the library never does).
- ``krb5_env`` (function): points this test process at the KDC: ``KRB5_CONFIG`` (the
  KDC's own krb5.conf), ``KRB5CCNAME`` (a fresh, empty cache in the test's tmp dir),
  ``KRB5RCACHENAME`` (the acceptor's replay cache, in the KDC's dir), through
  monkeypatch, so they are undone after the test.

Nothing system-wide is read or written: the KDC runs with ``KRB5_KDC_PROFILE`` (its
kdc.conf) and ``KRB5_CONFIG`` (its krb5.conf) in the temp dir, its database made there
with ``kdb5_util create -s -P <random>``, principals and keytabs made with
``kadmin.local``. ``krb5kdc -n`` runs in the foreground, so the PID we hold is the
KDC's: it is written to ``$RESUMABLE_TEST_RUN_DIR/pids/`` when that is set (a crashed
pytest run is cleaned up by scripts/test.sh) and the KDC is stopped by that PID only.
The tests are skipped only when the MIT KDC binaries are missing; scripts/bootstrap.sh
installs them (``krb5-kdc krb5-admin-server krb5-user libkrb5-dev``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.services.processes import forget_pid, log_tail, record_pid, stop_process

REALM = "RESUMABLE.TEST"
_START_ATTEMPTS = 4  # a free port can be taken (UDP or TCP) before the KDC binds it
_READY_BOUND = 30.0  # seconds; a bound for a broken start, not a speed expectation
_STOP_BOUND = 10.0
_BINARIES = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit")
_KADMIN_FAILED = re.compile(r"(?im)^\S+: .*(?:while|error|not found|exists|denied|unknown)")


def find_kdc_bin() -> dict[str, str] | None:
    """The MIT KDC tools (Debian puts krb5kdc and kdb5_util in /usr/sbin), or None when any is missing."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
    found = {name: shutil.which(name, path=path) for name in _BINARIES}
    if any(v is None for v in found.values()):
        return None
    return {k: str(v) for k, v in found.items()}


def free_port() -> int:
    """A port free right now on 127.0.0.1 for both UDP and TCP (another process may still take it)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


@dataclass
class Kdc:
    """One ``krb5kdc`` for ``realm`` on 127.0.0.1:``port``, its files under ``base_dir``."""

    base_dir: Path
    bins: dict[str, str]
    port: int
    realm: str = REALM
    process: subprocess.Popen[bytes] | None = None

    @property
    def krb5_conf(self) -> Path:
        return self.base_dir / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.base_dir / "kdc.conf"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "kdc.log"

    @property
    def replay_cache(self) -> str:
        return f"file2:{self.base_dir / 'replay.rcache2'}"

    def env(self) -> dict[str, str]:
        """The environment for the KDC's own tools: its profiles, nothing of the caller's Kerberos set-up."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
        env.update(KRB5_CONFIG=str(self.krb5_conf), KRB5_KDC_PROFILE=str(self.kdc_conf),
                   KRB5RCACHENAME=self.replay_cache, LC_ALL="C")
        return env

    def principal(self, name: str) -> str:
        return name if "@" in name else f"{name}@{self.realm}"

    # -- set-up ---------------------------------------------------------------------------

    def write_profiles(self) -> None:
        base, realm, port = self.base_dir, self.realm, self.port
        # dns_canonicalize_hostname / rdns off: the service principal is what the client
        # asked for (the adapter does Hadoop's canonicalisation itself); no DNS lookups.
        # clockskew 1 s (not 300): a ticket a test let expire is refused seconds later.
        self.krb5_conf.write_text(f"""\
[libdefaults]
    default_realm = {realm}
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = false
    default_ccache_name = FILE:{base}/ccache-default
    default_keytab_name = FILE:{base}/no-default.keytab
    default_client_keytab_name = FILE:{base}/no-default-client.keytab
    kdc_timeout = 3000
    max_retries = 1
    clockskew = 1

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
    }}

[domain_realm]
    localhost = {realm}
    127.0.0.1 = {realm}
    .resumable.test = {realm}
""")
        self.kdc_conf.write_text(f"""\
[kdcdefaults]
    kdc_listen = 127.0.0.1:{port}
    kdc_tcp_listen = 127.0.0.1:{port}

[realms]
    {realm} = {{
        database_name = {base}/principal
        key_stash_file = {base}/stash
        acl_file = {base}/kadm5.acl
        admin_keytab = FILE:{base}/kadm5.keytab
        kdc_listen = 127.0.0.1:{port}
        kdc_tcp_listen = 127.0.0.1:{port}
        max_life = 1h
        max_renewable_life = 0
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{base}/kdc.log
    default = FILE:{base}/krb5lib.log
""")
        (base / "kadm5.acl").write_text("")

    def create_database(self) -> None:
        # The master password is random and never leaves this function (the stash file holds the key).
        self._run(self.bins["kdb5_util"], "create", "-s", "-r", self.realm, "-P", secrets.token_urlsafe(24))

    def kadmin(self, query: str) -> str:
        return self._run(self.bins["kadmin.local"], "-r", self.realm, "-q", query)

    def add_principal(self, name: str, keytab: Path | None = None) -> Path:
        """A principal with a random key (``addprinc -randkey``), exported to *keytab* (a new file by default)."""
        principal = self.principal(name)
        self.kadmin(f"addprinc -randkey {principal}")
        return self.export_keytab(principal, keytab)

    def keytab_for(self, name: str, keytab: Path | None = None) -> Path:
        """A keytab for the principal, made first when the realm does not have it (tests share the KDC)."""
        try:
            self.kadmin(f"getprinc {self.principal(name)}")
        except RuntimeError:
            return self.add_principal(name, keytab)
        return self.export_keytab(name, keytab)

    def export_keytab(self, name: str, keytab: Path | None = None) -> Path:
        """``ktadd -norandkey``: the principal's current key into *keytab* (without changing it)."""
        principal = self.principal(name)
        if keytab is None:
            safe = principal.replace("/", "_").replace("@", "_")
            keytab = self.base_dir / "keytabs" / f"{safe}-{secrets.token_hex(4)}.keytab"
            keytab.parent.mkdir(mode=0o700, exist_ok=True)
        self.kadmin(f"ktadd -norandkey -k {keytab} {principal}")
        return keytab

    def change_key(self, name: str) -> None:
        """A new random key for the principal (keytabs exported before no longer match)."""
        self.kadmin(f"cpw -randkey {self.principal(name)}")

    def kinit(self, name: str, keytab: Path, ccache: str, lifetime: str | None = None) -> None:
        """What a user's ``kinit -k -t keytab principal`` does: a TGT in *ccache*."""
        args = [self.bins["kinit"], "-k", "-t", str(keytab), "-c", ccache]
        if lifetime is not None:
            args += ["-l", lifetime]
        self._run(*args, self.principal(name))

    def _run(self, *command: str) -> str:
        result = subprocess.run(command, cwd=self.base_dir, env=self.env(), stdin=subprocess.DEVNULL,
                                capture_output=True, check=False, timeout=60)
        out = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
        # kadmin.local -q exits 0 when the query failed: what it printed on stderr says so.
        failed = result.returncode != 0 or (command[0].endswith("kadmin.local") and _KADMIN_FAILED.search(out))
        if failed:
            shown = list(command)
            if "-P" in shown:  # the master password is never shown
                shown[shown.index("-P") + 1] = "***"
            raise RuntimeError(f"{' '.join(shown)} failed ({result.returncode}):\n{out}")
        return out

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.bins["krb5kdc"], "-n", "-r", self.realm],
            cwd=self.base_dir, env=self.env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # a ^C at the terminal must not stop it behind our back
        )
        record_pid(f"krb5kdc-{self.process.pid}", self.process.pid)
        deadline = time.monotonic() + _READY_BOUND
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                forget_pid(f"krb5kdc-{self.process.pid}")
                raise _StartFailed(f"krb5kdc exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"krb5kdc did not listen on 127.0.0.1:{self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the KDC by its PID: SIGTERM, SIGKILL when it outlives the bound."""
        process = self.process
        if process is None:
            return
        stop_process(process, timeout=_STOP_BOUND)
        forget_pid(f"krb5kdc-{process.pid}")
        self.process = None

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)


class _StartFailed(RuntimeError):
    pass


@contextlib.contextmanager
def start_kdc(base_dir: Path | None = None) -> Iterator[Kdc]:
    """A private KDC with an empty realm, stopped and its files removed on exit.

    Skips the test when the MIT KDC binaries are not installed.
    """
    bins = find_kdc_bin()
    if bins is None:
        pytest.skip("MIT Kerberos KDC binaries (krb5kdc, kdb5_util, kadmin.local, kinit) not found; "
                    "scripts/bootstrap.sh test installs krb5-kdc krb5-admin-server krb5-user libkrb5-dev")
    owned = base_dir is None
    base = Path(tempfile.mkdtemp(prefix="resumable-kdc-")) if base_dir is None else base_dir
    base.chmod(0o700)
    kdc = Kdc(base_dir=base, bins=bins, port=free_port())
    try:
        for attempt in range(_START_ATTEMPTS):
            kdc.write_profiles()
            if attempt == 0:
                kdc.create_database()
            try:
                kdc.start()
                break
            except _StartFailed:
                if attempt == _START_ATTEMPTS - 1:
                    raise
                kdc.port = free_port()  # most likely the port was taken: the profiles name the new one
        yield kdc
    finally:
        kdc.stop()
        if owned:
            shutil.rmtree(base, ignore_errors=True)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kdc() -> Iterator[Kdc]:
    with start_kdc() as server:
        yield server


@pytest.fixture
def krb5_env(kdc: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kdc:
    """This test process uses the KDC's krb5.conf and an empty ticket cache of its own (undone after)."""
    for name in list(os.environ):
        if name.startswith("KRB5"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'krb5cc'}")
    monkeypatch.setenv("KRB5RCACHENAME", kdc.replay_cache)
    return kdc


__all__ = ["REALM", "Kdc", "find_kdc_bin", "free_port", "kdc", "krb5_env", "start_kdc"]
