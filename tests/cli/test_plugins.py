"""The command's generic part names no system: each system's commands plug in (docs/layout.md)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from resumable_adapters.cli import build_parser
from resumable_adapters.cli._plugins import kind_from_meta, systems
from tests.paths import PYTHONPATH, REPO

ADAPTERS = REPO / "adapters" / "resumable_adapters"
CLI = ADAPTERS / "cli"
# What the generic part may use besides itself and the core: the state file's store, and the
# shared HTTP edge's deadline (a bound on whatever calls a system's job makes, naming no system).
ALLOWED = {"cli", "sqlite", "_http"}


def _imported_integrations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level == 0 and node.module.startswith("resumable_adapters."):
                found.append(node.module.split(".")[1])
            elif node.level == 2:
                found.append(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found += [alias.name.split(".")[1] for alias in node.names if alias.name.startswith("resumable_adapters.")]
    return found


def test_the_generic_part_imports_no_system() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(CLI.glob("*.py"))
        for name in _imported_integrations(path)
        if name not in ALLOWED
    }
    assert offenders == set()


def test_every_system_with_a_cli_module_adds_its_commands_and_rebuilds_its_kinds() -> None:
    with_cli = sorted(p.parent.name for p in ADAPTERS.glob("*/_cli.py"))
    assert "local" in with_cli and "spark" in with_cli
    assert len(systems()) == len(with_cli)
    listed = build_parser().format_help()
    assert all(f"    {name} " in listed or f"    {name}\n" in listed for name in ("run", "spark-submit", "status", "watch"))
    assert kind_from_meta({"kind": "local", "jobs_dir": "/tmp/x", "grace": 3}) is not None
    assert kind_from_meta({"kind": "spark", "master": "spark://m:6066", "app": "file:/a.jar",
                           "main_class": "a.Main", "web_ui": []}) is not None
    # A kind no system claims, or a meta that is not a mapping, is nobody's: never guessed.
    assert kind_from_meta({"kind": "no-such-system"}) is None
    assert kind_from_meta(["local"]) is None


def test_a_command_on_a_local_key_does_not_load_the_spark_client() -> None:
    # Spark's commands are found on every start; its client (urllib3) loads only when a Spark job is built.
    code = ("import sys; from resumable_adapters.cli import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('urllib3', 'resumable_adapters.spark._client'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": PYTHONPATH, "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"


def test_resumable_help_loads_no_system_client() -> None:
    # Every system package names its public names' homes (resumable_adapters/_lazy.py): finding
    # the commands loads only each system's _cli modules, never its client library, so a
    # ``--help`` neither pays for botocore or the Databricks SDK nor fails without an extra.
    code = ("import json, sys\n"
            "from resumable_adapters.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": PYTHONPATH, "PATH": "/usr/bin:/bin"}).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    clients = {"urllib3", "aiohttp", "boto3", "botocore", "databricks"}
    assert [m for m in loaded if m.partition(".")[0] in clients] == []
    systems = [m.split(".") for m in loaded if m.startswith("resumable_adapters.") and m.count(".") == 2]
    assert [".".join(m) for m in systems if m[1] != "cli" and not m[2].startswith("_cli")] == []
    with_cli = {p.parent.name for p in ADAPTERS.glob("*/_cli.py")}
    assert with_cli <= {m[1] for m in systems}  # each system was asked for its commands
