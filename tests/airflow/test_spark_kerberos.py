"""ResumableSparkSubmitOperator on a Kerberized YARN: the connection's principal and keytab become SPNEGO.

As SparkSubmitHook, a principal and a keytab mean Kerberos; the ResourceManager's REST
calls then log in from that keytab (resumable_adapters.yarn.SpnegoAuth, through GSS-API: no kinit,
no ticket cache), against a real MIT KDC (tests/services/kdc.py) and the loopback RM with
Hadoop's SPNEGO filter. An explicit ``yarn_rm_auth`` still wins.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from resumable_core import InvalidArgument
from tests.services.kdc import Kdc
from tests.services.yarn_rm import YarnResourceManager

pytest.importorskip("airflow.providers.apache.spark.operators.spark_submit")
pytest.importorskip("gssapi", reason="python-gssapi (the 'kerberos' extra) is not installed; "
                                     "scripts/bootstrap.sh test installs it")

from tests.services.spnego_acceptor import SpnegoAcceptor  # imports gssapi: after the skip


def operator(**kwargs: Any) -> Any:
    from resumable_adapters.airflow import ResumableSparkSubmitOperator

    kwargs.setdefault("task_id", "spark")
    kwargs.setdefault("application", "hdfs:///jobs/etl.jar")
    kwargs.setdefault("java_class", "etl.Main")
    return ResumableSparkSubmitOperator(**kwargs)


def yarn_connection(monkeypatch: pytest.MonkeyPatch, rm_url: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_YARN", json.dumps({
        "conn_type": "spark", "host": "yarn", "login": "etl-user",
        "extra": {"yarn_resourcemanager_webapp_address": rm_url}}))


def test_the_connections_keytab_logs_in_to_the_resourcemanager_with_spnego(
    krb5_env: Kdc, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from resumable_adapters.spark import SparkYarnJob
    from resumable_adapters.yarn import SpnegoAuth

    principal = krb5_env.principal("airflow-etl")
    keytab = krb5_env.keytab_for("airflow-etl", tmp_path / "etl.keytab")
    rm = YarnResourceManager(require_user=False)
    rm.spnego = SpnegoAcceptor(krb5_env.keytab_for("HTTP/localhost", tmp_path / "http.keytab"))
    rm.start()
    try:
        yarn_connection(monkeypatch, rm.url)
        job = operator(conn_id="spark_yarn", deploy_mode="cluster", principal=principal,
                       keytab=str(keytab)).make_job({})
        assert isinstance(job, SparkYarnJob) and isinstance(job.client.auth, SpnegoAuth)
        assert job.client.user is None  # Kerberos says who, not user.name
        app_id = rm.register("etl", [], ["60", "0"])
        assert job.get_job_status(app_id) == "ACCEPTED/UNDEFINED"
        assert job.get_job_status(app_id) == "ACCEPTED/UNDEFINED"
        assert rm.spnego.users == [principal] and rm.spnego.handshakes == 1 and rm.spnego.cookie_hits == 1
        assert not Path(os.environ["KRB5CCNAME"].removeprefix("FILE:")).exists()  # no ticket cache written
    finally:
        rm.stop()


def test_an_explicit_yarn_rm_auth_still_wins_over_the_keytab(monkeypatch: pytest.MonkeyPatch) -> None:
    from requests.auth import HTTPBasicAuth

    from resumable_adapters.yarn import SpnegoAuth

    yarn_connection(monkeypatch, "http://rm:8088")
    job = operator(conn_id="spark_yarn", deploy_mode="cluster", principal="etl@CORP", keytab="/etc/etl.keytab",
                   yarn_rm_auth=HTTPBasicAuth("etl", "pw-91c3")).make_job({})
    assert not isinstance(job.client.auth, SpnegoAuth)
    assert job.client.auth is not None
    assert job.client.auth("http://rm:8088/ws/v1/cluster/apps")["Authorization"].startswith("Basic ")


def test_without_python_gssapi_the_keytab_says_what_to_install_or_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import Connection

    from resumable_adapters.airflow._spark_connection import resolve_target
    from resumable_adapters.airflow._spark_jobs import default_yarn_auth
    from resumable_adapters.yarn import SpnegoAuth

    yarn = Connection(conn_id="spark_yarn", conn_type="spark", host="yarn", extra="{}")
    target = resolve_target(yarn, deploy_mode=None, yarn_queue=None, principal="etl@CORP",
                            keytab="/etc/etl.keytab", spark_binary=None, conf={})
    auth = default_yarn_auth(target)
    assert isinstance(auth, SpnegoAuth) and (auth.principal, auth.keytab) == ("etl@CORP", "/etc/etl.keytab")
    monkeypatch.setitem(sys.modules, "gssapi", None)  # as if the kerberos extra were not installed
    monkeypatch.setitem(sys.modules, "gssapi.exceptions", None)
    with pytest.raises(InvalidArgument, match=r"python-gssapi is not installed.*resumable-core\[kerberos\].*yarn_rm_auth="):
        default_yarn_auth(target)
    plain = resolve_target(yarn, deploy_mode=None, yarn_queue=None, principal=None, keytab=None,
                           spark_binary=None, conf={})
    assert default_yarn_auth(plain) is None  # no Kerberos: Hadoop's simple user.name
