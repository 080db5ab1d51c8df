"""The one progress contract every writer follows: ``progress(done, total)`` is called
as each weight, layer or tensor reaches the output, ``done`` rising to ``total``."""
from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int], None]


class Ticker:
    """Counts written items for a ``progress`` callback (which may be None)."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, max(int(total), 1), 0

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        """The last call, ``done == total``, once the output is complete."""
        if self.progress is not None and self.done < self.total:
            self.done = self.total
            self.progress(self.total, self.total)
