"""The suite runs on whatever database and cache it is given; CI's second round gives PostgreSQL and Redis."""

import os
import uuid

import pytest
from django.core.cache import cache, caches
from django.db import connection

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_it_was_given():
    expected = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    assert connection.vendor == expected
    if REQUIRE_SERVICES:
        assert connection.vendor == "postgresql", "CI's second round must run on PostgreSQL"


def test_the_cache_round_trips_through_the_backend_it_was_given():
    expected = "RedisCache" if os.environ.get("REDIS_URL") else "LocMemCache"
    assert type(caches["default"]).__name__ == expected
    if REQUIRE_SERVICES:
        assert type(caches["default"]).__name__ == "RedisCache", "CI's second round must run on Redis"
    key = f"round-trip-{uuid.uuid4()}"
    cache.set(key, {"streams": 3}, timeout=30)
    assert cache.get(key) == {"streams": 3}
    cache.delete(key)
