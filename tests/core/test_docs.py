"""The code in the docs runs: docs/decision.md's asyncio driver drives the real decision."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


def test_the_asyncio_driver_in_docs_decision_md_runs_three_jobs_once_each() -> None:
    blocks = [b for b in python_blocks(REPO / "docs" / "decision.md") if "asyncio.run(main())" in b]
    assert len(blocks) == 1
    namespace: dict[str, Any] = {"__name__": "docs_decision_example"}
    exec(compile(blocks[0], "docs/decision.md", "exec"), namespace)  # our own docs, the point of the test
    results = namespace["results"]
    assert [r["spec"] for r in results] == ["spec-0", "spec-1", "spec-2"]
    assert all(r["status"] == "SUCCEEDED" for r in results)
