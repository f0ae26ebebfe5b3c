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
