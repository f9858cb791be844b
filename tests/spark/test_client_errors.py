"""Every bad answer the real server will not give on demand, from a loopback server that misbehaves."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from resumable_adapters.spark import BearerToken, JwsAuth, SparkRestClient, SparkRestJob, SparkSubmission
from resumable_core import (
    InvalidArgument,
    JobNotFound,
    Poller,
    PollPolicy,
    ProtocolError,
    SubmissionRejected,
    TransientError,
)
from resumable_core.errors import MalformedAnswer, TransientBudgetExhausted
from tests.services.spark import free_port
from tests.spark.misbehaving_server import MisbehavingServer, Reply, misbehaving_server

DRIVER = "driver-20261124065334-0000"
SECRET = "hunter2-very-secret-value"


@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as s:
        yield s


def client_for(*urls: str, **kwargs: object) -> SparkRestClient:
    kwargs.setdefault("timeout", urllib3.Timeout(connect=1.0, read=0.5))
    return SparkRestClient(list(urls), **kwargs)  # type: ignore[arg-type]


def job_for(client: SparkRestClient, **kwargs: Any) -> SparkRestJob:
    sub = SparkSubmission(
        app_resource="file:/jobs/app.jar",
        main_class="app.Main",
        properties={"spark.hadoop.fs.s3a.secret.key": SECRET},
        environment={"DB_PASSWORD": SECRET},
    )
    return SparkRestJob(client, sub, **kwargs)


def status_reply(state: str) -> Reply:
    return Reply.json(action="SubmissionStatusResponse", driverState=state, success=True, submissionId=DRIVER)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (Reply.html(500, "Server Error"), TransientError, "HTTP 500"),
        (Reply.html(503, "Unavailable"), TransientError, "HTTP 503"),
        # Garbled (issue 17, item 6): asked again within the budget. Well-formed against the protocol: not.
        (Reply.html(200, "oops"), MalformedAnswer, "HTML"),
        (Reply(200, b"not json at all"), MalformedAnswer, "non-JSON"),
        (Reply(200, b"[1, 2]", {"Content-Type": "application/json"}), ProtocolError, "JSON list"),
        (Reply.json(driverState="RUNNING"), ProtocolError, "success"),
        (Reply.json(468, action="ErrorResponse", message="Unknown protocol version 'v1'", highestProtocolVersion="v2"),
         ProtocolError, "468"),
        (Reply.html(405, "Method Not Allowed"), ProtocolError, "405"),
        (Reply.json(400, action="ErrorResponse", message="Malformed request"), ProtocolError, "Malformed request"),
        (Reply(302, b"", {"Location": "http://elsewhere.invalid/"}), ProtocolError, "not followed"),
        (Reply(200, json.dumps({"success": True}).encode() * 3, truncate_to=5), TransientError, "IncompleteRead"),
        (Reply(200, b"{}", delay=1.5), TransientError, "ReadTimeout"),
        (status_reply("UNKNOWN"), TransientError, "UNKNOWN"),
        (status_reply("EXPLODED"), ProtocolError, "unknown state"),
        (Reply.json(success=False, message="Exception from the cluster: boom"), TransientError, "boom"),
    ],
)
def test_bad_status_answers_are_typed(
    server: MisbehavingServer, reply: Reply, error: type[Exception], words: str
) -> None:
    server.script(reply)
    with pytest.raises(error) as info:
        job_for(client_for(server.url)).get_job_status(DRIVER)
    assert words in str(info.value)
    assert type(info.value) is error or (error is TransientError and isinstance(info.value, TransientError))
    assert info.value.job_id == DRIVER  # type: ignore[attr-defined]
    assert len(server.requests) == 1  # no hidden retries: the core's budget decides


def test_status_success_false_without_message_is_not_found(server: MisbehavingServer) -> None:
    server.script(Reply.json(action="SubmissionStatusResponse", success=False, submissionId=DRIVER))
    with pytest.raises(JobNotFound):
        job_for(client_for(server.url), lost_settle=0).get_job_status(DRIVER)


def test_connection_refused_is_transient() -> None:
    job = job_for(client_for(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(TransientError) as info:
        job.get_job_status(DRIVER)
    assert "no master could answer" in str(info.value)


def test_unknown_keeps_polling_within_the_budget_then_gives_up(server: MisbehavingServer) -> None:
    server.script(status_reply("UNKNOWN"), status_reply("UNKNOWN"), status_reply("RUNNING"), status_reply("FINISHED"))
    job = job_for(client_for(server.url))
    poller = Poller(PollPolicy(min_interval=0, max_interval=0, transient_attempts=5), sleep=lambda s: None)
    assert poller.wait(job, DRIVER) == "FINISHED"

    server.script(status_reply("UNKNOWN"))
    poller = Poller(PollPolicy(min_interval=0, max_interval=0, transient_attempts=3), sleep=lambda s: None)
    with pytest.raises(TransientBudgetExhausted):
        poller.wait(job, DRIVER)
    assert len(server.requests) == 3


def test_malformed_driver_ids_never_reach_a_url(server: MisbehavingServer) -> None:
    job = job_for(client_for(server.url))
    for bad in ["", "driver-1", "../kill/" + DRIVER, DRIVER + "/../../x", DRIVER + "?a=b", "driver-20261124065334-0000\n"]:
        with pytest.raises(InvalidArgument):
            job.get_job_status(bad)
        with pytest.raises(InvalidArgument):
            job.cancel_job(bad)
    assert server.requests == []


def test_create_rejection_carries_the_message_without_secrets(server: MisbehavingServer) -> None:
    # A validation error that echoes the request, as Jackson's parse errors can.
    server.script(Reply.json(400, action="ErrorResponse", message=f"Malformed request: near {SECRET!r}"))
    job = job_for(client_for(server.url))
    with pytest.raises(SubmissionRejected) as info:
        job.submit_job("ref-1")
    assert "Malformed request" in str(info.value) and SECRET not in str(info.value)
    sent = json.loads(server.requests[0].body)
    assert sent["sparkProperties"]["spark.resumable.ref"] == "ref-1"
    assert sent["sparkProperties"]["spark.driver.supervise"] == "false"


def test_create_refused_by_the_server_is_rejected(server: MisbehavingServer) -> None:
    server.script(Reply.json(action="CreateSubmissionResponse", success=False, message="Driver cannot be submitted"))
    with pytest.raises(SubmissionRejected, match="cannot be submitted"):
        job_for(client_for(server.url)).submit_job("ref-2")


def test_create_with_a_malformed_id_in_the_answer(server: MisbehavingServer) -> None:
    server.script(Reply.json(action="CreateSubmissionResponse", success=True, submissionId="../../etc"))
    with pytest.raises(ProtocolError, match="malformed driver id"):
        job_for(client_for(server.url)).submit_job("ref-3")


def test_ha_status_skips_a_dead_and_a_standby_master(server: MisbehavingServer) -> None:
    with misbehaving_server() as standby:
        standby.script(Reply.json(success=False, message="Current state is not alive: STANDBY. Can only request driver status in ALIVE state."))
        server.script(status_reply("RUNNING"))
        client = client_for(f"http://127.0.0.1:{free_port()}", standby.url, server.url)
        job = job_for(client)
        assert job.get_job_status(DRIVER) == "RUNNING"
        assert job.get_job_status(DRIVER) == "RUNNING"
        assert len(standby.requests) == 1  # the master that answered is asked first afterwards
        assert len(server.requests) == 2


def test_ha_all_masters_not_alive_is_transient_not_not_found(server: MisbehavingServer) -> None:
    server.script(Reply.json(success=False, message="Current state is not alive: RECOVERING."))
    with pytest.raises(TransientError, match="RECOVERING"):
        job_for(client_for(server.url)).get_job_status(DRIVER)


def test_create_is_not_sent_to_a_second_master_once_the_first_may_have_it(server: MisbehavingServer) -> None:
    with misbehaving_server() as second:
        server.script(Reply.html(502, "Bad Gateway"))
        second.script(Reply.json(action="CreateSubmissionResponse", success=True, submissionId=DRIVER))
        with pytest.raises(TransientError, match="may have been accepted"):
            job_for(client_for(server.url, second.url)).submit_job("ref-4")
        assert second.requests == []
        # A standby refusal is proof nothing was created: the next master gets it.
        server.script(Reply.json(success=False, message="Current state is not alive: STANDBY."))
        assert job_for(client_for(server.url, second.url)).submit_job("ref-5") == DRIVER
        assert len(second.requests) == 1


def test_jws_header_is_hs256_signed_with_the_key_and_short_lived(server: MisbehavingServer) -> None:
    raw_key = bytes(range(32))
    key = base64.urlsafe_b64encode(raw_key).decode().rstrip("=")
    server.script(status_reply("RUNNING"))
    client = client_for(server.url, auth=JwsAuth(key, ttl=30, clock=lambda: 1_000_000.0))
    job_for(client).get_job_status(DRIVER)
    scheme, token = server.requests[0].headers["Authorization"].split(" ")
    header, payload, signature = token.split(".")
    expected = hmac.new(raw_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert scheme == "Bearer"
    assert base64.urlsafe_b64decode(signature + "==") == expected
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["exp"] - claims["iat"] == 30
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "HS256"
    assert key not in repr(client.auth)


def test_injected_pool_is_used(server: MisbehavingServer) -> None:
    pool = urllib3.PoolManager(retries=False)
    server.script(status_reply("FINISHED"))
    client = SparkRestClient(server.url, pool=pool)
    assert client.status(DRIVER) is not None
    assert len(pool.pools) == 1
    client.close()  # not ours: left open
    assert len(pool.pools) == 1


def test_keep_alive_one_connection_for_many_polls(server: MisbehavingServer) -> None:
    server.script(status_reply("RUNNING"))
    client = client_for(server.url)
    for _ in range(5):
        client.status(DRIVER)
    assert len({seen.client_port for seen in server.requests}) == 1  # one TCP connection, kept alive


def test_urls_with_credentials_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        SparkRestClient("http://user:pw@127.0.0.1:6066")
    with pytest.raises(InvalidArgument):
        SparkRestClient("ftp://127.0.0.1:6066")
    with pytest.raises(InvalidArgument):
        SparkRestClient([])


def test_listen_socket_closed_mid_answer() -> None:
    """A server that accepts and closes at once: the request may have arrived, so transient."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        import threading

        def accept_and_close() -> None:
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

        thread = threading.Thread(target=accept_and_close)
        thread.start()
        with pytest.raises(TransientError):
            job_for(client_for(f"http://127.0.0.1:{port}")).submit_job("ref-6")
        thread.join(5)


def test_bearer_token_is_sent_only_to_the_configured_master(server: MisbehavingServer) -> None:
    server.script(Reply(302, b"", {"Location": "http://127.0.0.1:1/steal"}))
    client = client_for(server.url, auth=BearerToken("static-tok-1234"))
    with pytest.raises(ProtocolError, match="not followed"):
        client.status(DRIVER)
    assert server.requests[0].headers["Authorization"] == "Bearer static-tok-1234"
    assert len(server.requests) == 1


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_is_verified_by_default(self_signed: tuple[str, str]) -> None:
    cert, _ = self_signed
    with misbehaving_server(tls=self_signed) as tls_server:
        tls_server.script(status_reply("RUNNING"))
        with pytest.raises(ProtocolError, match="TLS"):
            client_for(tls_server.url).status(DRIVER)
        assert tls_server.requests == []  # nothing was sent over the unverified connection
        trusted = client_for(tls_server.url, ca_certs=cert, timeout=urllib3.Timeout(connect=2.0, read=2.0))
        status = trusted.status(DRIVER)
        assert status is not None and status.state == "RUNNING"
