"""The wheel holds every package and subpackage, and each imports from it (not from the source tree)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["resumable_core", "adapters", "adapters.spark", "adapters.airflow", "adapters.cli", "adapters.local"]


def test_the_wheel_holds_every_subpackage_and_imports_from_it(tmp_path: Path) -> None:
    # No build isolation: the test environment has setuptools (the 'test' extra), and
    # the run stays offline and fast.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(REPO)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("resumable_core-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unpacked")
    for package in PACKAGES:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert "resumable_core/py.typed" in names and "adapters/py.typed" in names
    assert not any(name.startswith("tests/") for name in names)

    # -S: no site, so no editable-install finder can send the imports back to the source tree;
    # the dependencies come from this environment's site-packages, after the wheel's files.
    site_packages = sysconfig.get_paths()["purelib"]
    code = (
        "import importlib, json, sys\n"
        f"sys.path[:0] = [{str(tmp_path / 'unpacked')!r}, {site_packages!r}]\n"
        f"files = {{p: importlib.import_module(p).__file__ for p in {PACKAGES!r}}}\n"
        "import resumable_core\n"
        "files['names'] = [n for n in resumable_core.__all__ if getattr(resumable_core, n, None) is None]\n"
        "print(json.dumps(files))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout
    files = json.loads(out.strip().splitlines()[-1])
    assert files.pop("names") == []
    for package, file in files.items():
        assert Path(file).is_relative_to(tmp_path / "unpacked"), (package, file)
