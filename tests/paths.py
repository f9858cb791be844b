"""Where the sources live, for tests that start Python processes of their own.

The repository has two source roots: the core at the top (``resumable_core/``) and the
integrations under ``adapters/`` (the import package ``resumable_adapters``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE_ROOTS = (REPO, REPO / "adapters")
PYTHONPATH = os.pathsep.join(str(root) for root in SOURCE_ROOTS)
