"""How far a running job has got: the ``SupportsProgress`` capability and the ``Progress`` it returns.

docs/progress.md has the contract (when the core asks, what it records, what each
system reports).
"""

from __future__ import annotations

from ._progress import PROGRESS_VERSION, AsyncSupportsProgress, Count, Progress, SupportsProgress

__all__ = ["PROGRESS_VERSION", "AsyncSupportsProgress", "Count", "Progress", "SupportsProgress"]
