#!/usr/bin/env bash
# Creates .venv and installs what a profile needs, on a fresh machine.
#   scripts/bootstrap.sh core   -> the library and its CLI (the demo)
#   scripts/bootstrap.sh test   -> + pytest, hypothesis, mypy, pyspark, Airflow, psycopg, gssapi, Java, PostgreSQL,
#                                    MIT Kerberos (a KDC for the SPNEGO tests)
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-core}"
PY="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=".venv/.installed-$profile"
# The test profile installs everything the core profile does.
if [ "$profile" = core ] && [ -f .venv/.installed-test ] && [ ! pyproject.toml -nt .venv/.installed-test ]; then
    stamp=.venv/.installed-test
fi
# MIT Kerberos (KDC, kadmin.local, kinit; headers) for the SPNEGO tests, when missing. Before the
# pip install below: python-gssapi (in the test extra) compiles against libkrb5-dev's krb5-config.
if [ "$profile" = test ] && ! { command -v krb5-config && command -v kinit && [ -x /usr/sbin/krb5kdc ] \
        && [ -x /usr/sbin/kadmin.local ]; } >/dev/null 2>&1; then
    echo "bootstrap: installing MIT Kerberos from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_log="$(mktemp)"
    { apt-get update -qq && apt-get install -y -qq krb5-kdc krb5-admin-server krb5-user libkrb5-dev; } \
        >"$apt_log" 2>&1 || { cat "$apt_log" >&2; rm -f "$apt_log"; exit 1; }
    rm -f "$apt_log"
fi
# Reinstall when pyproject.toml changed since the last install of this profile.
# The default editable mode: the package has two source roots (the repository's top for
# resumable_core, adapters/ for resumable_adapters), which setuptools' compat mode cannot put on
# sys.path (it adds the top only); the default mode's import finder maps both. mypy reads
# adapters/ through mypy_path, pytest through its pythonpath. Twice --quiet: errors only, so a
# first `make demo` shows the demo, not the installer.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check --upgrade pip
    if [ "$profile" = test ]; then
        # --no-cache-dir: pyspark is a 456 MB sdist; caching it doubles the disk it costs.
        .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check --no-cache-dir -e '.[test,spark,postgres]'
        # The stock SparkSubmitOperator (its signature is checked against ours; client mode runs
        # through its hook), without its dependencies: it requires pyspark-client, whose files
        # would overwrite pyspark 4.3.0's (the real cluster the tests run). What it imports
        # (Airflow, common-compat, requests, tenacity) the line above installed.
        .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps \
            'apache-airflow-providers-apache-spark==6.3.4'
        # The stock Databricks operators (tests/databricks/test_airflow_bridge.py), without the SQL
        # connector, pandas and pyarrow they require for their SQL hooks: the Jobs operators import
        # mergedeep and what the lines above installed (databricks-sdk comes with the test extra).
        .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps \
            'apache-airflow-providers-databricks==7.23.0' 'mergedeep==1.3.4'
        # A Flink 2.3 distribution for tests/flink (bin/ in apache-flink, lib/ in apache-flink-libraries),
        # without their Python dependencies (apache-beam, pandas, pyarrow): the tests run its JVMs only.
        .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check --no-deps --no-cache-dir \
            'apache-flink==2.3.0' 'apache-flink-libraries==2.3.0'
    else
        .venv/bin/python -m pip install --quiet --quiet --disable-pip-version-check -e .
    fi
    touch "$stamp"
fi

if [ "$profile" = test ]; then
    # Java 17+ for the Spark cluster, from Debian's packages when missing.
    if ! command -v javac >/dev/null 2>&1; then
        echo "bootstrap: installing a JDK from Debian's packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
    fi
    # PostgreSQL server binaries for the Postgres store's tests, when missing.
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        echo "bootstrap: installing PostgreSQL from Debian's packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    # tmux: a real terminal for the CLI's live display (tests/cli/test_progress_cli.py).
    if ! command -v tmux >/dev/null 2>&1; then
        echo "bootstrap: installing tmux from Debian's packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq tmux >/dev/null
    fi
fi
