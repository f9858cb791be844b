"""``import resumable_core`` pulls in no third-party module and no adapter."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_is_stdlib_only() -> None:
    code = (
        "import sys, json; before = set(sys.modules); import resumable_core, resumable_core.testing; "
        "import resumable_core.decision, resumable_core.errors, resumable_core.events, resumable_core.record; "
        "import resumable_core.store; [getattr(resumable_core, n) for n in resumable_core.__all__]; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    loaded = json.loads(out)
    stdlib = set(sys.stdlib_module_names)
    third_party = sorted(
        {m.split(".")[0] for m in loaded}
        - stdlib
        - {"resumable_core", "typing_extensions", "_distutils_hack"}
    )
    assert third_party == []
    assert not any(m.split(".")[0] in {"resumable_adapters", "urllib3", "airflow", "psycopg", "pydantic"} for m in loaded)


def test_version_comes_from_the_installed_metadata() -> None:
    from importlib.metadata import version

    import resumable_core

    assert resumable_core.__version__ == version("resumable-core")
