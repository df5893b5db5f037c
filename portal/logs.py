"""Logging helpers: a filter that lets a repeating record through once per interval."""

from __future__ import annotations

import logging
import threading
import time


class OncePer(logging.Filter):
    """Pass the first record of each (logger, message) and then at most one per `seconds`.

    An outage of an optional part (Redis as a cache) would otherwise log once per request; one line a minute
    says the same. The records held back are counted, and the next one passed says how many there were.
    """

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._last.clear()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (float("-inf"), 0))
            if now - last < self.seconds:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.seconds:.0f} s)"
        return True
