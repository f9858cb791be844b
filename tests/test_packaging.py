"""The wheel installs only this project's own top-level names, holds every package and subpackage of
both source roots, and each imports from it (not from the source tree)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The project's own top-level import names: nothing generic that another distribution could also install
# (the folder adapters/ once installed as the package ``adapters``, which AdapterHub's distribution owns).
OWN_TOP_LEVEL = {"resumable_core", "resumable_adapters"}
# Every package of the source tree, found by walking it, so that a new integration is checked without
# being listed here.
PACKAGES = sorted(
    ".".join(init.parent.relative_to(root).parts)
    for root in (REPO, REPO / "adapters")
    for top in OWN_TOP_LEVEL
    for init in (root / top).rglob("__init__.py")
    if (root / top).is_dir()
)


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
    assert "resumable_core/py.typed" in names and "resumable_adapters/py.typed" in names
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == OWN_TOP_LEVEL, f"the wheel installs top-level names not this project's own: {top_level - OWN_TOP_LEVEL}"
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        scripts = archive.read(entry_points).decode()
    assert "resumable = resumable_adapters.cli:main" in scripts

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
