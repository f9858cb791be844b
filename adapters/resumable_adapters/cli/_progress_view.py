"""How the CLI draws a job's progress: a bar with the raw counts, what runs now, and the UI link.

The bar fills with (done + skipped) / total of the first count (skipped work will never run, so
a finished Spark job fills it); the numbers beside it stay raw. Without a total there is no bar,
only the counts: a bar that guesses would lie. Plain text only (no terminal library): the
``status`` rows and the ``watch`` table redraw with the two ANSI sequences they already use.
"""

from __future__ import annotations

from resumable_core.progress import Progress

BAR_WIDTH = 20


def progress_bar(progress: Progress, width: int = BAR_WIDTH) -> str:
    """``[########------------] 120/300 tasks, 2/6 stages (1 skipped)``; counts only without a total."""
    counts = ", ".join(count.describe() for count in progress.counts)
    main = progress.main
    fraction = main.fraction if main is not None else None
    if fraction is None:
        return counts or "-"
    filled = int(round(fraction * width))
    return f"[{'#' * filled}{'-' * (width - filled)}] {counts}"


def progress_rows(progress: Progress | None) -> list[tuple[str, str]]:
    """The ``status`` rows: progress, now (the label), ui (the link); none without progress."""
    if progress is None:
        return []
    rows = [("progress", progress_bar(progress))]
    if progress.label:
        rows.append(("now", progress.label))
    if progress.ui_url:
        rows.append(("ui", progress.ui_url))
    return rows


def progress_cell(progress: Progress | None) -> str:
    """One table cell for ``watch``: the bar and the label."""
    if progress is None:
        return ""
    bar = progress_bar(progress, width=10)
    return f"{bar}  {progress.label}" if progress.label else bar


__all__ = ["BAR_WIDTH", "progress_bar", "progress_cell", "progress_rows"]
