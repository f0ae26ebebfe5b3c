from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession
from tests.commands.conftest import make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def aged():
    now = timezone.now()
    return {
        "old-resolved": make_session(
            "alice", created=now - timedelta(days=400), resolved_after=timedelta(minutes=5)
        ),
        "old-expired": make_session(
            "bob", created=now - timedelta(days=200), status="expired", messages=4
        ),
        # Opened long ago but talked to last week: its last activity is what counts.
        "old-but-busy": make_session(
            "alice", created=now - timedelta(days=300), last_activity=now - timedelta(days=7)
        ),
        "recent": make_session("carol", created=now - timedelta(days=3)),
    }


def test_it_deletes_sessions_idle_past_the_retention_period_with_their_messages(run, aged):
    result = run("purge_sessions", "--older-than-days", "180", "--batch-size", "1")
    assert "Deleted 2 session(s) and 6 message(s)." in result.stdout
    kept = set(ChatSession.objects.values_list("pk", flat=True))
    assert kept == {aged["old-but-busy"].pk, aged["recent"].pk}
    # chat_messages cascades in PostgreSQL: no orphans are left behind.
    assert set(ChatMessage.objects.values_list("session_id", flat=True).distinct()) == kept
    assert ChatMessage.objects.count() == 4


def test_dry_run_reports_and_deletes_nothing(run, aged):
    result = run("purge_sessions", "--older-than-days", "180", "--dry-run")
    assert ": 2 (1 expired, 1 resolved), 6 messages;" in result.stdout
    assert "Dry run: nothing deleted." in result.stdout
    assert ChatSession.objects.count() == 4 and ChatMessage.objects.count() == 10


def test_nothing_to_delete(run, aged):
    result = run("purge_sessions", "--older-than-days", "1000")
    assert "Nothing to delete." in result.stdout
    assert ChatSession.objects.count() == 4


def test_progress_goes_to_stderr(run, aged):
    result = run("purge_sessions", "--older-than-days", "180", "--progress")
    assert "purging" in result.stderr and "100%" in result.stderr
    assert "purging" not in result.stdout


@pytest.mark.parametrize("days", ["0", "-5", "soon", "99999999999"])
def test_the_retention_period_must_be_a_positive_number_of_days(run, aged, days):
    with pytest.raises(CommandError):
        run("purge_sessions", "--older-than-days", days)
    assert ChatSession.objects.count() == 4
