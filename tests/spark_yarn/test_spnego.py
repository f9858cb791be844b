"""SPNEGO to the YARN ResourceManager (SpnegoAuth) against a real MIT KDC on 127.0.0.1.

The KDC is real (tests/services/kdc.py: krb5kdc, its own database and keytabs); the
ResourceManager is the loopback one with Hadoop's AuthenticationFilter behaviour
(tests/services/spnego_acceptor.py accepts through GSS-API with the RM's keytab). The
client's tickets come from a ticket cache filled by ``kinit`` (the user's way) or from a
keytab through GSS-API's credential store (the library's way: no kinit, no cache file).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from resumable_adapters._http._call import HttpAnswer
from resumable_adapters.spark._launcher import SparkSubmitLauncher
from resumable_adapters.spark._yarn import SparkYarnJob
from resumable_adapters.yarn import SpnegoAuth, SpnegoError
from resumable_adapters.yarn._client import YarnRestClient
from resumable_adapters.yarn._spnego import _parse_cookie, canonical_host
from resumable_core import MemoryStateStore, ProtocolError, TransientError, run_resumable
from tests.services.kdc import Kdc, free_port
from tests.services.yarn_rm import YarnResourceManager
from tests.spark_yarn.conftest import FAST_POLL, hadoop_conf_dir, submission, write_wrapper

pytest.importorskip("gssapi", reason="python-gssapi (the 'kerberos' extra) is not installed; "
                                     "scripts/bootstrap.sh test installs it")

from tests.services.spnego_acceptor import SpnegoAcceptor  # imports gssapi: after the skip

ALICE = "alice"


class Realm:
    """The principals and keytabs of these tests, made once in the session's KDC."""

    def __init__(self, server: Kdc) -> None:
        self.kdc = server
        self.alice = server.principal(ALICE)
        self.alice_keytab = server.keytab_for(ALICE)
        self.bob_keytab = server.keytab_for("bob")
        self.http_keytab = {host: server.keytab_for(f"HTTP/{host}")
                            for host in ("localhost", "127.0.0.1", "rm1.resumable.test", "rm2.resumable.test")}

    def kinit(self, ccache: str | None = None, lifetime: str | None = None) -> str:
        """Alice's TGT in the test's ticket cache (``KRB5CCNAME``), as the user's kinit does."""
        ccache = ccache or os.environ["KRB5CCNAME"]
        self.kdc.kinit(ALICE, self.alice_keytab, ccache, lifetime)
        return ccache


@pytest.fixture(scope="module")
def realm(kdc: Kdc) -> Realm:
    return Realm(kdc)


@pytest.fixture
def env(krb5_env: Kdc, realm: Realm) -> Realm:
    """This test's process uses the KDC (KRB5_CONFIG) and an empty ticket cache of its own."""
    return realm


def kerberized_rm(keytab: Path, **kwargs: object) -> YarnResourceManager:
    """A started loopback RM that asks for SPNEGO (keys: *keytab*) and no user.name."""
    rm = YarnResourceManager(require_user=False, **kwargs)  # type: ignore[arg-type]
    rm.spnego = SpnegoAcceptor(keytab)
    return rm.start()


@pytest.fixture
def rm(env: Realm) -> Iterator[YarnResourceManager]:
    """An RM whose service principal is HTTP/localhost: the canonical name of 127.0.0.1, its URL's host."""
    server = kerberized_rm(env.http_keytab["localhost"])
    yield server
    server.stop()


def acceptor(rm: YarnResourceManager) -> SpnegoAcceptor:
    assert rm.spnego is not None
    return rm.spnego


def api_requests(rm: YarnResourceManager) -> int:
    return sum(1 for _, path, _ in rm.requests if path != "/test/register")


# -- a whole job -----------------------------------------------------------------------------------


def test_a_yarn_job_runs_polls_is_found_by_tag_and_killed_through_spnego_with_one_handshake(
    env: Realm, rm: YarnResourceManager, tmp_path: Path
) -> None:
    env.kinit()
    auth = SpnegoAuth()
    client = YarnRestClient(rm.url, auth=auth, timeout=5.0)
    assert auth.service_principal(rm.url) == "HTTP/localhost"  # Hadoop's canonical host of 127.0.0.1
    launcher = SparkSubmitLauncher(write_wrapper(tmp_path, "tests.spark_yarn.fake_spark_submit"), timeout=20.0,
                                   env={"HADOOP_CONF_DIR": str(hadoop_conf_dir(tmp_path / "conf", rm))})
    try:
        result = run_resumable(SparkYarnJob(client, submission(0.3), launcher=launcher), MemoryStateStore(),
                               key="etl", poll=FAST_POLL)
        assert result["state"] == "FINISHED" and result["final_status"] == "SUCCEEDED"

        job = SparkYarnJob(client, submission(60.0), launcher=launcher)
        reference = uuid.uuid4().hex
        app_id = job.submit_job(reference)
        assert job.find_job_by_reference(reference) == app_id  # the tag lookup, authenticated too
        job.cancel_job(app_id)
        deadline = time.monotonic() + 10
        while job.get_job_status(app_id) != "KILLED/KILLED":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        client.close()
    spnego = acceptor(rm)
    assert spnego.handshakes == 1 and auth.tokens_sent == 1  # then the hadoop.auth cookie, every time
    assert spnego.users == [env.alice] and spnego.refused == 0
    assert spnego.cookie_hits == api_requests(rm) - 1 >= 5
    assert all(user is None for _, _, user in rm.requests)  # no user.name: Kerberos says who


def test_a_cookie_the_rm_no_longer_accepts_costs_one_401_and_one_fresh_token(
    env: Realm, rm: YarnResourceManager
) -> None:
    env.kinit()
    app_id = rm.register("etl", [], ["60", "0"])
    auth = SpnegoAuth()
    client = YarnRestClient(rm.url, auth=auth, timeout=5.0)
    for _ in range(3):
        assert client.application(app_id) is not None
    spnego = acceptor(rm)
    assert (spnego.handshakes, spnego.cookie_hits, spnego.refused) == (1, 2, 0)
    spnego.rotate_secret()  # the RM restarted with a new signing secret: its cookies are void
    assert client.application(app_id) is not None
    assert (spnego.handshakes, spnego.refused) == (2, 1)  # the stale cookie's 401, then one fresh token
    assert client.application(app_id) is not None
    assert (spnego.handshakes, spnego.cookie_hits) == (2, 3)  # the new cookie in use


# -- credentials -------------------------------------------------------------------------------------


def test_a_keytab_logs_in_without_kinit_and_writes_no_ticket_cache(
    env: Realm, rm: YarnResourceManager, tmp_path: Path
) -> None:
    cache_file = Path(os.environ["KRB5CCNAME"].removeprefix("FILE:"))
    auth = SpnegoAuth(principal=env.alice, keytab=env.alice_keytab)
    client = YarnRestClient(rm.url, auth=auth, timeout=5.0)
    app_id = rm.register("etl", [], ["60", "0"])
    app = client.application(app_id)
    assert app is not None and app.state == "ACCEPTED"
    assert client.kill(app_id) is not None
    assert acceptor(rm).users == [env.alice] and acceptor(rm).handshakes == 1
    assert not cache_file.exists()  # the credentials live in a private in-memory cache
    assert not (env.kdc.base_dir / "ccache-default").exists()
    # A second client with the same keytab (a new task): its own handshake, still no cache file.
    other = YarnRestClient(rm.url, auth=SpnegoAuth(principal=env.alice, keytab=str(env.alice_keytab)), timeout=5.0)
    assert other.application(app_id) is not None
    assert acceptor(rm).handshakes == 2 and not cache_file.exists()


def test_keytab_credentials_that_expired_are_renewed_from_the_keytab(env: Realm, rm: YarnResourceManager) -> None:
    name = "short-" + uuid.uuid4().hex[:8]
    keytab = env.kdc.add_principal(name)
    env.kdc.kadmin(f'modprinc -maxlife "3 seconds" {env.kdc.principal(name)}')  # its tickets live 3 s
    auth = SpnegoAuth(principal=env.kdc.principal(name), keytab=keytab)
    client = YarnRestClient(rm.url, auth=auth, timeout=5.0)
    assert client.application("application_1764200000000_0001") is None  # authenticated; no such app
    time.sleep(4.5)  # the TGT and the service ticket have expired (1 s of clock skew allowed)
    acceptor(rm).rotate_secret()  # the cookie too: a fresh token is needed
    assert client.application("application_1764200000000_0001") is None
    assert acceptor(rm).handshakes == 2 and acceptor(rm).users == [env.kdc.principal(name)] * 2


def test_no_credentials_is_a_typed_error_naming_the_rm_and_the_principals(
    env: Realm, rm: YarnResourceManager
) -> None:
    app_id = rm.register("etl", [], ["60", "0"])
    client = YarnRestClient(rm.url, auth=SpnegoAuth(), timeout=5.0)
    with pytest.raises(SpnegoError) as info:
        client.application(app_id)
    error = info.value
    assert issubclass(type(error), ProtocolError) and not issubclass(type(error), TransientError)  # stop, do not resubmit
    message = str(error)
    assert "no Kerberos credentials" in message and rm.url in message and "HTTP/localhost" in message
    assert os.environ["KRB5CCNAME"] in message  # whose credentials: the ticket cache asked
    assert (error.rm_url, error.service_principal) == (rm.url, "HTTP/localhost")
    assert api_requests(rm) == 0  # nothing was sent without a token

    named = YarnRestClient(rm.url, auth=SpnegoAuth(principal=env.alice), timeout=5.0)
    with pytest.raises(SpnegoError, match="no Kerberos credentials for alice@RESUMABLE.TEST") as info:
        named.application(app_id)
    assert rm.url in str(info.value)


def test_a_keytab_without_the_principal_says_which_keytab_and_shows_none_of_it(
    env: Realm, rm: YarnResourceManager
) -> None:
    client = YarnRestClient(rm.url, auth=SpnegoAuth(principal=env.alice, keytab=env.bob_keytab), timeout=5.0)
    with pytest.raises(SpnegoError) as info:
        client.application("application_1764200000000_0001")
    message = str(info.value)
    assert str(env.bob_keytab) in message and env.alice in message and rm.url in message
    secret = env.bob_keytab.read_bytes()
    for chunk in (secret[16:48].hex(), base64.b64encode(secret[16:48]).decode(), "Negotiate "):
        assert chunk not in message
    assert acceptor(rm).handshakes == 0


def test_an_expired_ticket_is_a_typed_error_that_says_so(env: Realm, rm: YarnResourceManager) -> None:
    env.kinit(lifetime="2s")
    time.sleep(3.2)  # past the end, and past the 1 s clock skew the test realm allows
    client = YarnRestClient(rm.url, auth=SpnegoAuth(), timeout=5.0)
    with pytest.raises(SpnegoError, match="expired") as info:
        client.application("application_1764200000000_0001")
    assert rm.url in str(info.value) and "HTTP/localhost" in str(info.value)


def test_a_kdc_that_does_not_answer_is_transient(env: Realm, rm: YarnResourceManager, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The same realm, its KDC at a port where nothing listens: the keytab login cannot get a ticket.
    closed = env.kdc.krb5_conf.read_text().replace(f"127.0.0.1:{env.kdc.port}", f"127.0.0.1:{free_port()}")
    (tmp_path / "krb5.conf").write_text(closed)
    monkeypatch.setenv("KRB5_CONFIG", str(tmp_path / "krb5.conf"))
    client = YarnRestClient(rm.url, auth=SpnegoAuth(principal=env.alice, keytab=env.alice_keytab), timeout=5.0)
    with pytest.raises(TransientError, match="no KDC answered") as info:
        client.application("application_1764200000000_0001")
    assert not isinstance(info.value, ProtocolError) and rm.url in str(info.value)


# -- the service principal ---------------------------------------------------------------------------


def test_a_service_principal_the_kdc_does_not_know_is_named(env: Realm, rm: YarnResourceManager) -> None:
    env.kinit()
    auth = SpnegoAuth(hostname={"127.0.0.1": "rm9.resumable.test"})
    client = YarnRestClient(rm.url, auth=auth, timeout=5.0)
    with pytest.raises(SpnegoError, match="does not know the service principal HTTP/rm9.resumable.test") as info:
        client.application("application_1764200000000_0001")
    assert rm.url in str(info.value) and "hostname=" in str(info.value)
    assert api_requests(rm) == 0


def test_a_token_for_another_service_principal_is_refused_by_the_rm(env: Realm) -> None:
    env.kinit()
    server = kerberized_rm(env.http_keytab["127.0.0.1"])  # the RM holds HTTP/127.0.0.1's key only
    try:
        client = YarnRestClient(server.url, auth=SpnegoAuth(), timeout=5.0)  # asks for HTTP/localhost
        with pytest.raises(SpnegoError, match="refused the Kerberos token") as info:
            client.application("application_1764200000000_0001")
        error = info.value
        assert error.service_principal == "HTTP/localhost" and error.rm_url == server.url
        assert env.alice in error.client or "krb5cc" in error.client
        assert acceptor(server).refused == 1 and acceptor(server).handshakes == 0
        # Named as the RM's keytab has it, the same RM accepts.
        right = YarnRestClient(server.url, auth=SpnegoAuth(canonicalize=False), timeout=5.0)
        assert right.application("application_1764200000000_0001") is None  # 404: authenticated, unknown app
        assert acceptor(server).handshakes == 1
    finally:
        server.stop()


def test_each_rm_of_an_ha_pair_gets_its_own_service_principal(env: Realm) -> None:
    env.kinit()
    active = kerberized_rm(env.http_keytab["rm2.resumable.test"])
    standby = YarnResourceManager(require_user=False, standby_for=active)
    standby.spnego = SpnegoAcceptor(env.http_keytab["rm1.resumable.test"])
    standby.start()
    try:
        standby_url = standby.url.replace("127.0.0.1", "localhost")  # two hosts, as two RMs are
        auth = SpnegoAuth(hostname={"localhost": "rm1.resumable.test", "127.0.0.1": "rm2.resumable.test"})
        client = YarnRestClient([standby_url, active.url], auth=auth, timeout=5.0)
        assert auth.service_principal(standby_url) == "HTTP/rm1.resumable.test"
        assert auth.service_principal(active.url) == "HTTP/rm2.resumable.test"
        app_id = active.register("etl", [], ["60", "0"])
        assert client.application(app_id) is not None  # the standby (its own SPN) redirects to the active
        assert client.active_rm_url == active.url
        assert acceptor(standby).handshakes == 1 and acceptor(active).handshakes == 1
        for _ in range(3):
            assert client.application(app_id) is not None
        assert acceptor(active).handshakes == 1 and acceptor(active).cookie_hits == 3
        assert acceptor(standby).refused == acceptor(active).refused == 0
    finally:
        standby.stop()
        active.stop()


# -- the parts without a KDC -------------------------------------------------------------------------


def test_the_cookie_expiry_is_the_earliest_of_its_attributes_and_the_signed_token() -> None:
    soon_ms = int((time.time() + 60) * 1000)
    value, expires = _parse_cookie(f'hadoop.auth="u=a&p=a@R&t=kerberos&e={soon_ms}&s=abc="; Path=/; HttpOnly') or ("", 0)
    assert value == f"u=a&p=a@R&t=kerberos&e={soon_ms}&s=abc=" and expires == soon_ms / 1000
    _, expires = _parse_cookie(f"hadoop.auth=u=a&e={soon_ms}&s=x; Max-Age=10") or ("", 0)
    assert expires is not None and expires < time.time() + 11
    assert _parse_cookie("hadoop.auth=; Path=/") == ("", None)
    assert _parse_cookie("JSESSIONID=abc; Path=/") is None


def test_a_spent_cookie_is_not_sent_and_an_emptied_one_is_dropped(env: Realm) -> None:
    env.kinit()
    auth = SpnegoAuth()
    url = "http://127.0.0.1:1/ws/v1/cluster/apps"
    sent = auth(url)
    assert set(sent) == {"Authorization"}

    def answer(cookie: str) -> HttpAnswer:
        return HttpAnswer(url=url, status=200, body=b"{}", content_type="application/json", location=None,
                          headers=(("Set-Cookie", cookie),))

    past = int((time.time() - 1) * 1000)
    assert auth.answered(url, sent, answer(f'hadoop.auth="u=a&e={past}&s=x"')) is False
    assert set(auth(url)) == {"Authorization"}  # an expired cookie is never sent
    assert auth.answered(url, auth(url), answer('hadoop.auth="u=a&s=x"')) is False
    assert auth(url) == {"Cookie": 'hadoop.auth="u=a&s=x"'}
    assert auth.answered(url, {"Cookie": 'hadoop.auth="u=a&s=x"'}, answer("hadoop.auth=")) is False
    assert set(auth(url)) == {"Authorization"}


def test_canonical_host_and_the_arguments_checked_up_front() -> None:
    assert canonical_host("127.0.0.1") == "localhost" and canonical_host("LOCALHOST") == "localhost"
    assert canonical_host("no-such-host.invalid") == "no-such-host.invalid"
    with pytest.raises(ValueError, match="keytab= needs principal="):
        SpnegoAuth(keytab="/etc/x.keytab")
    with pytest.raises(ValueError, match="not a Kerberos principal"):
        SpnegoAuth(principal="two words")
    assert "keytab='/k'" in repr(SpnegoAuth(principal="a@R", keytab="/k"))


def test_importing_the_spark_and_yarn_adapters_does_not_import_gssapi() -> None:
    code = ("import sys, json; import resumable_adapters.spark, resumable_core; "
            "from resumable_adapters.spark import SparkYarnJob; from resumable_adapters.yarn import SpnegoAuth; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('gssapi', 'spnego', 'krb5'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=Path(__file__).parents[2]).stdout
    assert json.loads(out) == []
