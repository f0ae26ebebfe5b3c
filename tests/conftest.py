import pytest
from django.conf import settings

from messaging_app.services import ReplyDraft


def pytest_configure(config):
    # The suite verifies PostgreSQL behaviour (row locks, cascades, indexes): refuse to run
    # on the embedded SQLite default rather than pass without checking anything real.
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" or not settings.REDIS_URL:
        raise pytest.UsageError(
            "Tests need PostgreSQL and Redis: run `make test`, or set DATABASE_URL and REDIS_URL."
        )


@pytest.fixture(scope="session", autouse=True)
def close_connection_pools(django_db_setup, django_db_blocker):
    """Return pooled connections before pytest-django drops the test database."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all():
            if getattr(connection, "pool", None) is not None:
                connection.close_pool()
    # Connections still held by worker threads (sync_to_async, the test client) would keep
    # the test database from being dropped; end them from a connection of our own.
    import psycopg

    from tests.support import libpq_params

    db = connections["default"].settings_dict
    with psycopg.connect(**libpq_params(db, dbname="postgres"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [db["NAME"]],
        )


@pytest.fixture(autouse=True)
def isolated_rate_limits(settings):
    """Each test counts its own rate limits (the counters live in the shared Redis)."""
    import uuid

    settings.RATELIMIT_CACHE_PREFIX = f"rl:test:{uuid.uuid4().hex}:"


@pytest.fixture
def rate_limit_clock_stopped(monkeypatch):
    """django-ratelimit's clock held at one instant, so a test's attempts share one window.

    Its windows are fixed minutes ending at a second set by each key: a test that counts ten
    attempts can otherwise straddle an edge and see the count start again. In-process only
    (a live server in another process keeps the real clock; see wait_for_a_fresh_window).
    """
    import time
    from types import SimpleNamespace

    import django_ratelimit.core

    now = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="alice-pass-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="bob-pass-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="carol", password="carol-pass-123", is_staff=True
    )


def echo_responder(*, session, content, message_type):
    """A stand-in for the agent pipeline where a test is about storage, not answers."""
    return ReplyDraft(content=f"echo: {content}", intent="echo", confidence=1.0)


@pytest.fixture
def responder():
    return echo_responder


def bearer(user) -> dict:
    from rest_framework_simplejwt.tokens import AccessToken

    return {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(user)}"}


@pytest.fixture
def api():
    """A DRF client; pass `**bearer(user)` to authenticate a call."""
    from rest_framework.test import APIClient

    return APIClient()
