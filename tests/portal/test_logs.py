"""portal.logs.OncePer: a repeating log line passes once per interval, and says how many it held back."""

from __future__ import annotations

import logging

from portal.logs import OncePer


def record(message: str = "Exception ignored", name: str = "portal.cache") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def test_the_first_record_passes_and_repeats_are_held_back() -> None:
    once = OncePer(seconds=60)
    assert once.filter(record()) is True
    assert [once.filter(record()) for _ in range(5)] == [False] * 5


def test_other_messages_and_loggers_pass_on_their_own() -> None:
    once = OncePer(seconds=60)
    assert once.filter(record("one")) is True
    assert once.filter(record("two")) is True
    assert once.filter(record("one", name="portal.health")) is True
    assert once.filter(record("one")) is False


def test_after_the_interval_the_next_record_passes_and_counts_the_held_back(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("portal.logs.time.monotonic", lambda: clock[0])
    once = OncePer(seconds=60)
    assert once.filter(record())
    for _ in range(3):
        assert not once.filter(record())
    clock[0] += 61
    later = record()
    assert once.filter(later)
    assert later.getMessage() == "Exception ignored (3 more like this in the last 60 s)"


def test_the_shipped_logging_limits_the_cache_and_health_lines() -> None:
    for name in ("portal.cache", "portal.health"):
        assert any(isinstance(f, OncePer) for f in logging.getLogger(name).filters), name
