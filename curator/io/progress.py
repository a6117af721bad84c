"""Progress for every step that can take more than a few seconds, wherever the output goes.

On a terminal a tqdm bar; anywhere else (a log file, CI, `dvc repro` piped to a file) tqdm hides
itself, so a long stage would say nothing for minutes. There a log line comes instead every
``LOG_SECONDS`` with the count, the rate and the time left, and one when the step ends if it
took that long. Both have tqdm's interface: ``update``, ``close``, iteration, ``with``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger("curator.progress")
LOG_SECONDS = 30.0


class LogProgress:
    """tqdm's interface, reported as log lines at most every LOG_SECONDS."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= LOG_SECONDS:
            self.last = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        done = f"{self.n:,}" + (f"/{self.total:,}" if self.total else "")
        left = ""
        if self.total and rate > 0:
            left = f", about {(self.total - self.n) / rate:.0f} s left"
        return f"{self.desc}: {done} {self.unit} ({rate:,.1f} {self.unit}/s{left})"

    def close(self) -> None:
        now = time.monotonic()
        if now - self.start >= LOG_SECONDS:
            log.info("%s; done in %.0f s", self.line(now), now - self.start)

    def __iter__(self) -> Iterator:
        for item in self.iterable if self.iterable is not None else ():
            yield item
            self.update()
        self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "img",
    **tqdm_options: Any,
) -> Any:
    """A tqdm bar when stderr is a terminal, else a LogProgress; ``total`` defaults to the
    iterable's length."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, **tqdm_options)
    return LogProgress(iterable, total, desc, unit)
