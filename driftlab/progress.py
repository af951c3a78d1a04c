"""Progress bars for long work (sampling, training, rounds); silent when DRIFTLAB_QUIET is set."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)


def quiet() -> bool:
    return bool(os.environ.get("DRIFTLAB_QUIET"))


@contextmanager
def task(description: str, total: int, unit: str = "") -> Iterator:
    """Yield `advance(k)`; renders a bar with count and elapsed time on stderr."""
    if quiet() or total <= 0:
        yield lambda k=1: None
        return
    if not console.is_terminal:  # logs and pipes: a line when it starts and when it ends
        start = time.perf_counter()
        console.print(f"  {description}: {total} {unit} ...", highlight=False)
        yield lambda k=1: None
        console.print(
            f"  {description}: done in {time.perf_counter() - start:.0f}s", highlight=False
        )
        return
    columns = [
        TextColumn("  {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        tid = bar.add_task(description, total=total)
        yield lambda k=1: bar.advance(tid, k)


def log(message: str) -> None:
    if not quiet():
        console.print(message)
