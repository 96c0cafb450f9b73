"""A warning that anyone on the network can cause, logged at a bounded rate.

Each refused sync connection is worth a line (a peer outside the mesh, a revoked node, a port
scanner), but a host that dials the sync port in a loop would otherwise fill the disk with them. So
at most `lines` such lines are written per `period` seconds; the rest are counted, and the first line
of the next period says how many were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Writes warnings to `logger`, at most `lines` per `period` seconds of `clock`."""

    def __init__(self, logger: logging.Logger, *, lines: int = 10, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self._logger = logger
        self._lines = lines
        self._period = period
        self._clock = clock
        self._window_start: float | None = None
        self._written = 0
        self.suppressed = 0
        """Lines left out in the current period so far."""

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if self._window_start is None or now - self._window_start >= self._period:
            if self.suppressed:
                self._logger.warning("%d more like the next line were not logged in the last %g s",
                                     self.suppressed, self._period)
            self._window_start, self._written, self.suppressed = now, 0, 0
        if self._written < self._lines:
            self._written += 1
            self._logger.warning(message, *args)
        else:
            self.suppressed += 1
