"""A spark-submit stand-in for the command line's tests: it records what it was given, then plays the part.

It appends ``{"argv": [...], "conf": {...}}`` (its arguments and the properties file's
entries) to ``$RECORD_SPARK_SUBMIT`` when set, then runs the recorded launcher of the
cluster manager ``--master`` names (tests/spark_yarn/fake_spark_submit.py or
tests/spark_kubernetes/fake_spark_submit.py), which register the application in the
loopback ResourceManager or create the driver pod in the loopback API server.
"""

from __future__ import annotations

import json
import os
import sys

from tests.spark_kubernetes import fake_spark_submit as kubernetes_launcher
from tests.spark_yarn import fake_spark_submit as yarn_launcher


def main(argv: list[str]) -> int:
    record = os.environ.get("RECORD_SPARK_SUBMIT")
    if record:
        conf = yarn_launcher.properties(argv[argv.index("--properties-file") + 1])
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"argv": argv, "conf": conf}) + "\n")
    master = argv[argv.index("--master") + 1]
    code: int = (yarn_launcher if master == "yarn" else kubernetes_launcher).main(argv)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
