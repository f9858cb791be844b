"""The public API stays small and honest (after httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
import warnings
from pathlib import Path

import pytest

import resumable_core

REPO = Path(__file__).resolve().parents[1]
ADAPTERS = REPO / "adapters" / "resumable_adapters"
PUBLIC_SUBMODULES = ["aio", "decision", "errors", "events", "progress", "record", "redaction", "resume", "store", "telemetry", "testing"]


def test_all_is_sorted_small_and_every_name_resolves() -> None:
    names = resumable_core.__all__
    assert len(names) <= 40
    assert len(set(names)) == len(names)
    assert sorted(n for n in names if not n.startswith("_")) == [n for n in names if not n.startswith("_")]
    for name in names:
        getattr(resumable_core, name)  # AttributeError if one does not resolve


def test_the_package_shows_exactly_its_all() -> None:
    for name in resumable_core.__all__:
        getattr(resumable_core, name)
    shown = {n for n in dir(resumable_core) if not n.startswith("_")}
    assert shown == {n for n in resumable_core.__all__ if not n.startswith("_")}
    # What the module namespace really holds (names loaded on use) is a subset: no stray helper.
    held = {n for n, v in vars(resumable_core).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert held <= set(resumable_core.__all__), held - set(resumable_core.__all__)


@pytest.mark.parametrize("module", PUBLIC_SUBMODULES)
def test_every_public_submodule_exports_what_it_lists(module: str) -> None:
    imported = importlib.import_module(f"resumable_core.{module}")
    assert len(set(imported.__all__)) == len(imported.__all__)
    for name in imported.__all__:
        assert hasattr(imported, name), f"resumable_core.{module}.{name}"


def test_a_name_that_moved_still_imports_with_a_warning_naming_its_home() -> None:
    with pytest.warns(DeprecationWarning, match=r"resumable_core\.events"):
        submitted = resumable_core.Submitted
    from resumable_core.events import Submitted

    assert submitted is Submitted
    with pytest.raises(AttributeError), warnings.catch_warnings():
        warnings.simplefilter("error")
        resumable_core.NoSuchName  # noqa: B018  # the access is the test


def test_adapters_import_nothing_private_from_the_core() -> None:
    offenders = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            if module is not None and node.level == 0 and module.startswith("resumable_core._"):  # type: ignore[attr-defined]
                offenders.append(f"{path.relative_to(REPO)}: from {module}")
            offenders += [f"{path.relative_to(REPO)}: import {n}" for n in names if n.startswith("resumable_core._")]
    assert offenders == []


def test_one_parameter_name_for_one_thing() -> None:
    from resumable_core import cancel_resumable, run_resumable

    run, cancel = inspect.signature(run_resumable).parameters, inspect.signature(cancel_resumable).parameters
    assert {"policy", "poll", "listener", "clock", "sleep"} <= set(run)
    assert {"poll", "listener", "clock", "sleep"} <= set(cancel)
    assert not {"resume_policy", "poll_policy"} & (set(run) | set(cancel))


def test_an_integration_uses_another_only_through_its_public_package() -> None:
    offenders = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        own = path.relative_to(ADAPTERS).parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            if node.level == 0 and node.module.startswith("resumable_adapters."):
                parts = node.module.split(".")[1:]
            elif node.level == 2 and path.parent != ADAPTERS:
                parts = node.module.split(".")
            else:
                continue
            if parts[0] != own and len(parts) > 1 and parts[1].startswith("_"):
                offenders.append(f"{path.relative_to(REPO)}: {node.module}")
    assert offenders == []


LAZY_PACKAGES = sorted(p.parent.name for p in ADAPTERS.glob("*/__init__.py") if "exports(__name__" in p.read_text())


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_a_package_loaded_on_first_use_shows_and_resolves_exactly_its_all(package: str) -> None:
    # Its names' homes (resumable_adapters/_lazy.py) and its literal __all__ are two lists of
    # one thing: a name in one only is either unreachable or unlisted.
    imported = importlib.import_module(f"resumable_adapters.{package}")
    names = imported.__all__
    assert len(set(names)) == len(names)
    shown = {n for n in dir(imported) if not n.startswith("_")}
    assert shown == set(names), shown ^ set(names)
    for name in names:
        getattr(imported, name)  # AttributeError or ImportError if its home is wrong
    with pytest.raises(AttributeError, match="NoSuchName"):
        imported.NoSuchName  # noqa: B018  # the access is the test
