"""The recorded launcher for Kubernetes: spark-submit's driver-pod POST and its output, in 50 ms.

Each real spark-submit is a JVM start (about 5 s here), so the real one runs in
tests/spark_kubernetes/test_real_spark_submit.py only, and the many submissions of the
contract suite go through this script. It reads the same arguments and properties file,
POSTs the driver pod the way Spark 4.3's ``KubernetesClientApplication`` shapes it (name,
labels, annotations, the driver container's args ending in the application's args) and
prints what the real one prints: the "Deployed Spark application" line on success, and
fabric8's ``KubernetesClientException`` text (captured from a real run) on a refused POST.
It skips the service, config map and network policy the real one applies after the pod.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from tests.spark_yarn.fake_spark_submit import parse, properties


def main(argv: list[str], env: Mapping[str, str] | None = None, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    """spark-submit's run, output to *out* and *err* (default: this process's); *env* is unused
    (fabric8 reads no variable here: the launcher points KUBECONFIG nowhere).

    Called as a script by the launcher's subprocess, and in-process by
    tests/spark_yarn/recorded_launcher.py (the crash properties, thousands of launches).
    """
    err = sys.stderr if err is None else err
    options, rest = parse(argv)
    conf = properties(options["--properties-file"])
    master = options.get("--master", "")
    if not master.startswith("k8s://") or conf.get("spark.kubernetes.submission.waitAppCompletion") != "false":
        print("Error: this recorded launcher only plays k8s cluster mode with waitAppCompletion=false", file=err)
        return 2
    server, namespace = master[len("k8s://"):], conf.get("spark.kubernetes.namespace", "default")
    name = conf["spark.kubernetes.driver.pod.name"]
    app_id = "spark-" + uuid.uuid4().hex
    labels = {k.split("spark.kubernetes.driver.label.", 1)[1]: v for k, v in conf.items()
              if k.startswith("spark.kubernetes.driver.label.")}
    labels.update({"spark-app-name": options.get("--name", "app"), "spark-role": "driver",
                   "spark-app-selector": app_id, "spark-version": "4.3.0"})
    annotations = {k.split("spark.kubernetes.driver.annotation.", 1)[1]: v for k, v in conf.items()
                   if k.startswith("spark.kubernetes.driver.annotation.")}
    args = ["driver", "--properties-file", "/opt/spark/conf/spark.properties"]
    if "--class" in options:
        args += ["--class", options["--class"]]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "spark-kubernetes-driver", "image": conf["spark.kubernetes.container.image"],
               "args": args + rest}]}}
    headers = {"Content-Type": "application/json"}
    token_file = conf.get("spark.kubernetes.authenticate.submission.oauthTokenFile")
    if token_file:
        headers["Authorization"] = "Bearer " + Path(token_file).read_text().strip()
    url = f"{server}/api/v1/namespaces/{namespace}/pods"
    request = urllib.request.Request(url, data=json.dumps(pod).encode(), method="POST", headers=headers)
    stamp = time.strftime("%y/%m/%d %H:%M:%S")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:
        status = json.loads(exc.read() or b"{}")
        print(f'Exception in thread "main" io.fabric8.kubernetes.client.KubernetesClientException: Failure '
              f"executing: POST at: {url}. Message: {status.get('message')}. Received status: "
              f"Status(apiVersion=v1, code={exc.code}, details=StatusDetails(causes=[], group=null, kind=pods, "
              f"name={name}, retryAfterSeconds=null, uid=null, additionalProperties={{}}), kind=Status, "
              f"message={status.get('message')}, reason={status.get('reason')}, status=Failure, "
              "additionalProperties={}).", file=err)
        return 1
    print(f"{stamp} INFO Client: Deployed Spark application {options.get('--name')} with application ID "
          f"{app_id} and submission ID {namespace}:{name} into Kubernetes", file=err)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
