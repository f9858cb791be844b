"""The recorded launcher for YARN: what ``spark-submit --master yarn --deploy-mode cluster`` does and prints.

Real YARN submission is Hadoop RPC (``ApplicationClientProtocol.submitApplication``),
which no loopback server here speaks. This script stands in for that one step: it reads
the same arguments and properties file the adapter gives the real spark-submit, finds
the ResourceManager in ``$HADOOP_CONF_DIR/yarn-site.xml`` as Hadoop's client does,
registers the application in the loopback RM (tests/services/yarn_rm.py) and prints
the log lines Spark 4.3's yarn ``Client`` and Hadoop's ``YarnClientImpl`` print (their
texts checked in spark-yarn_2.13-4.3.0.jar and hadoop-client-api-3.5.0.jar).

``FAKE_SPARK_MODE``: ``ok`` (default); ``usage`` (spark-submit's own argument error);
``fail-before-submit`` (dies after "Submitting application", before the RPC lands);
``fail-after-submit`` (the application exists, then spark-submit exits 1);
``hang`` (sleeps ``FAKE_SPARK_SLEEP`` seconds before registering, for the timeout and
parent-death tests; first writes its pid to ``FAKE_SPARK_STARTED`` when set).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

_WITH_VALUE = {"--master", "--deploy-mode", "--name", "--class", "--jars", "--py-files", "--files", "--archives",
               "--proxy-user", "--properties-file", "--conf", "--queue"}


def stamp() -> str:
    return time.strftime("%y/%m/%d %H:%M:%S")


def log(text: str, err: TextIO) -> None:
    print(f"{stamp()} {text}", file=err, flush=True)


def parse(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    options: dict[str, str] = {}
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if rest:
            rest.append(arg)
        elif arg in _WITH_VALUE:
            options[arg] = argv[index + 1]
            index += 1
        elif arg.startswith("--"):
            options[arg] = ""
        else:
            rest.append(arg)
        index += 1
    return options, rest


def properties(path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            found[key.replace("\\", "")] = value.replace("\\\\", "\\")
    return found


def main(argv: list[str], env: Mapping[str, str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """spark-submit's run: *env* its environment, *out* and *err* its output (default: this process's).

    Called as a script by the launcher's subprocess, and in-process by
    tests/spark_yarn/recorded_launcher.py (the crash properties, thousands of launches).
    """
    env = os.environ if env is None else env
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    mode = env.get("FAKE_SPARK_MODE", "ok")
    print("WARNING: Using incubator modules: jdk.incubator.vector", file=err)
    options, rest = parse(argv)
    if mode == "usage" or not rest:
        print("Error: Missing application resource.\n", file=err)
        print("Usage: spark-submit [options] <app jar | python file | R file> [app arguments]", file=err)
        return 1
    conf = properties(options["--properties-file"])
    if options.get("--master") != "yarn" or conf.get("spark.yarn.submit.waitAppCompletion") != "false":
        print("Error: this recorded launcher only plays yarn cluster mode with waitAppCompletion=false",
              file=err)
        return 2
    log("WARN NativeCodeLoader: Unable to load native-hadoop library for your platform... using builtin-java "
        "classes where applicable", err)
    print("Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties", file=err)
    site = ET.parse(Path(env["HADOOP_CONF_DIR"]) / "yarn-site.xml").getroot()
    address = {p.findtext("name"): p.findtext("value") for p in site.iter("property")}[
        "yarn.resourcemanager.webapp.address"]
    log("INFO DefaultNoHARMFailoverProxyProvider: Connecting to ResourceManager at /127.0.0.1:8032", err)
    log("INFO Client: Requesting a new application from cluster with 1 NodeManagers", err)
    if mode == "hang":
        if env.get("FAKE_SPARK_STARTED"):
            # The test kills our parent only once we run, then waits for this pid to be gone.
            Path(env["FAKE_SPARK_STARTED"]).write_text(str(os.getpid()))
        time.sleep(float(env.get("FAKE_SPARK_SLEEP", "30")))
    if mode == "fail-before-submit":
        log("INFO Client: Submitting application application_1764200000000_9999 to ResourceManager", err)
        print('Exception in thread "main" java.io.IOException: Failed on local exception: '
              "java.io.IOException: Connection reset by peer", file=err)
        return 1
    spec = {"name": options.get("--name", "app"), "tags": conf.get("spark.yarn.tags", "").split(","),
            "args": rest[1:], "queue": conf.get("spark.yarn.queue", "default")}
    request = urllib.request.Request(f"http://{address}/test/register", data=json.dumps(spec).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        app_id = json.load(answer)["id"]
    log(f"INFO Client: Submitting application {app_id} to ResourceManager", err)
    log(f"INFO YarnClientImpl: Submitted application {app_id}", err)
    if mode == "fail-after-submit":
        print('Exception in thread "main" org.apache.spark.SparkException: Application '
              f"{app_id} finished with status: FAILED", file=err)
        return 1
    log(f"INFO Client: Application report for {app_id} (state: ACCEPTED)", err)
    log("INFO Client: \n\t client token: N/A\n\t diagnostics: N/A\n\t ApplicationMaster host: N/A\n"
        f"\t queue: {spec['queue']}\n\t final status: UNDEFINED\n\t tracking URL: "
        f"http://{address}/proxy/{app_id}/", err)
    log("INFO ShutdownHookManager: Shutdown hook called", err)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
