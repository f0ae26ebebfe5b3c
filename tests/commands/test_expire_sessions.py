from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app.models import ChatSession, SessionStatus
from tests.commands.conftest import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def idle_and_fresh():
    now = timezone.now()
    idle = make_session("alice", created=now - timedelta(hours=2))
    fresh = make_session("bob", created=now - timedelta(minutes=5))
    ChatSession.objects.filter(pk=fresh.pk).update(expires_at=now + timedelta(minutes=25))
    pending = make_session("carol", created=now - timedelta(hours=2), status="pending")
    return idle, fresh, pending


def test_it_expires_active_sessions_idle_past_their_ttl(run, idle_and_fresh):
    idle, _, _ = idle_and_fresh
    result = run("expire_sessions")
    assert "Expired 1 session(s) idle for over 30 min." in result.stdout
    statuses = dict(ChatSession.objects.values_list("user_id", "status"))
    assert statuses == {
        "alice": SessionStatus.EXPIRED,
        "bob": SessionStatus.ACTIVE,
        "carol": SessionStatus.PENDING,  # waiting for a person is not idleness
    }
    assert ChatSession.objects.get(pk=idle.pk).is_active is False


def test_dry_run_counts_and_changes_nothing(run, idle_and_fresh):
    result = run("expire_sessions", "--dry-run")
    assert "Would expire 1 session(s)" in result.stdout
    assert not ChatSession.objects.filter(status=SessionStatus.EXPIRED).exists()


def test_a_second_run_has_nothing_left(run, idle_and_fresh):
    run("expire_sessions")
    assert "Expired 0 session(s)" in run("expire_sessions").stdout
