"""The Redis cache backend (portal/cache.py): Django's behaviour, one client per pool, a one-trip counter."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache, caches

from portal.cache import RedisCache


def test_the_portal_uses_its_redis_backend() -> None:
    assert isinstance(caches["default"], RedisCache)


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**62, "12", b"\x80 not a pickle", {"nested": [1, "two", 3.0]}, "x" * 100_000, True, None],
    ids=["zero", "negative", "big", "digits-text", "bytes", "dict", "long-text", "bool", "none"],
)
def test_values_come_back_as_they_were_stored(value) -> None:
    cache.set("roundtrip", value, 30)
    assert cache.get("roundtrip", "missing") == value
    assert type(cache.get("roundtrip", "missing")) is type(value)


def test_integers_are_stored_plain_so_incr_works() -> None:
    cache.set("counter", 41, 30)
    assert cache.incr("counter") == 42
    assert cache.get("counter") == 42


def test_one_client_per_pool_serves_every_call() -> None:
    cache.get("anything")
    client = cache._cache.get_client("anything")
    cache.set("something", 1, 30)
    assert cache._cache.get_client("something", write=True) is client  # one server: read and write pool alike


def test_incr_window_counts_and_expires() -> None:
    assert [cache.incr_window("window", 1) for _ in range(3)] == [1, 2, 3]
    ttl = cache._cache.get_client("window").ttl(cache.make_key("window"))
    assert 0 < ttl <= 1
    time.sleep(1.1)
    assert cache.incr_window("window", 1) == 1  # a new window
