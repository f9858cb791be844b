"""The YARN ResourceManager REST API for resumable_adapters: applications by id and by tag, kills,
ResourceManager high availability, and authentication (Hadoop's simple form, or SPNEGO with
``SpnegoAuth``: the ``kerberos`` extra, imported on first use).

Used by Spark on YARN (``resumable_adapters.spark.SparkYarnJob``) and by every other integration
that runs on YARN. Needs urllib3 (any of the extras ``yarn``, ``spark``).

::

    from resumable_adapters.yarn import YarnRestClient

    client = YarnRestClient(["http://rm1:8088", "http://rm2:8088"])
"""

from __future__ import annotations

from ._client import APP_ID_RE, YarnApplication, YarnAuth, YarnAuthFlow, YarnRestClient, check_app_id
from ._spnego import SpnegoAuth, SpnegoError  # python-gssapi is imported on first use only

__all__ = [
    "APP_ID_RE",
    "SpnegoAuth",
    "SpnegoError",
    "YarnApplication",
    "YarnAuth",
    "YarnAuthFlow",
    "YarnRestClient",
    "check_app_id",
]
