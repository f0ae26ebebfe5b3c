import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError

from messaging_app.models import ChatMessage
from tests.commands.conftest import make_session

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def traffic():
    # Monday: three sessions, two resolved after 10 and 30 minutes (median 20).
    make_session("a", created=MONDAY, resolved_after=timedelta(minutes=10), messages=4)
    make_session("b", created=MONDAY, resolved_after=timedelta(minutes=30), intent="card_lost")
    make_session("c", created=MONDAY + timedelta(hours=3), intent="card_lost", messages=6)
    # Wednesday: one session resolved after two hours. Tuesday: nothing at all.
    make_session(
        "d", created=MONDAY + timedelta(days=2), resolved_after=timedelta(hours=2), intent="fees"
    )
    # Outside the range asked for.
    make_session("e", created=MONDAY - timedelta(days=1))


def stats_json(run, *args) -> dict:
    return json.loads(run("chat_stats", "--format", "json", *args).stdout)


def test_daily_figures(run, traffic):
    body = stats_json(run, "--since", "2026-03-09", "--until", "2026-03-12")
    days = {d["day"]: d for d in body["days"]}
    assert list(days) == ["2026-03-09", "2026-03-10", "2026-03-11"]  # quiet Tuesday included

    monday = days["2026-03-09"]
    assert (monday["sessions"], monday["messages"], monday["resolved"]) == (3, 12, 2)
    assert monday["resolutionRate"] == pytest.approx(2 / 3)
    assert monday["medianSecondsToResolve"] == 20 * 60
    # Incoming messages only (odd sequence numbers): 2 balance, 1 + 3 card_lost.
    assert monday["topIntents"] == [
        {"intent": "card_lost", "count": 4},
        {"intent": "balance_inquiry", "count": 2},
    ]

    tuesday = days["2026-03-10"]
    assert tuesday["sessions"] == 0 and tuesday["resolutionRate"] is None
    assert tuesday["medianSecondsToResolve"] is None and tuesday["topIntents"] == []

    assert days["2026-03-11"]["medianSecondsToResolve"] == 2 * 3600

    total = body["total"]
    assert (total["sessions"], total["messages"], total["resolved"]) == (4, 14, 3)
    assert total["medianSecondsToResolve"] == 30 * 60
    assert total["topIntents"][0] == {"intent": "card_lost", "count": 4}


def test_a_range_given_in_another_zone_lists_its_utc_days(run, traffic):
    # 20:00 New York time (UTC-5) on the 8th to the 9th: 01:00 UTC on the 9th to the 10th.
    body = stats_json(run, "--since", "2026-03-08T20:00-05:00", "--until", "2026-03-09T20:00-05:00")
    assert [d["day"] for d in body["days"]] == ["2026-03-09", "2026-03-10"]
    assert body["days"][0]["sessions"] == 3


def test_table_output(run, traffic):
    out = run("chat_stats", "--since", "2026-03-09", "--until", "2026-03-12").stdout
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["day", "sessions", "messages", "resolved", "rate", "median"]
    monday = next(line for line in lines if line.startswith("2026-03-09"))
    assert monday.split()[:6] == ["2026-03-09", "3", "12", "2", "67%", "20m00s"]
    assert "card_lost (4), balance_inquiry (2)" in monday
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[:6] == ["total", "4", "14", "3", "75%", "30m00s"]


def test_csv_output(run, traffic):
    out = run("chat_stats", "--format", "csv", "--since", "2026-03-09", "--until", "2026-03-10")
    rows = out.stdout.splitlines()
    assert rows[0].startswith("day,sessions,messages,resolved,resolution_rate,median_to_resolve")
    assert rows[1].startswith("2026-03-09,3,12,2,0.6667,1200.0,")


def test_messages_are_counted_on_the_day_they_were_sent(run, traffic):
    ChatMessage.objects.filter(user_id="c").update(created_at=MONDAY + timedelta(days=1))
    days = {
        d["day"]: d
        for d in stats_json(run, "--since", "2026-03-09", "--until", "2026-03-11")["days"]
    }
    assert days["2026-03-09"]["messages"] == 6 and days["2026-03-10"]["messages"] == 6


def test_the_default_is_the_last_seven_days(run, traffic):
    body = stats_json(run)
    assert len(body["days"]) == 7
    assert body["total"]["sessions"] == 0  # the fixture's traffic is older


def test_bad_ranges_are_refused(run):
    with pytest.raises(CommandError, match="--since must be before --until"):
        run("chat_stats", "--since", "2026-03-12", "--until", "2026-03-09")
    with pytest.raises(CommandError):
        run("chat_stats", "--since", "yesterday")


def test_the_fallback_median_for_sqlite_agrees_with_postgresql(traffic):
    from sessions_app.management.stats import _medians_in_python, chat_stats_by_day
    from sessions_app.models import ChatSession

    since, until = MONDAY.replace(hour=0), MONDAY + timedelta(days=3)
    days, total = chat_stats_by_day(since=since, until=until)
    sessions = ChatSession.objects.filter(created_at__gte=since, created_at__lt=until)
    by_day, whole = _medians_in_python(sessions)
    assert whole == total.median_time_to_resolve == timedelta(minutes=30)
    assert by_day == {d.day: d.median_time_to_resolve for d in days if d.median_time_to_resolve}


@pytest.mark.parametrize("option", [("--days", "99999999999"), ("--top", "-1"), ("--top", "0")])
def test_out_of_range_counts_are_refused_not_crashes(run, option):
    # A huge --days left datetime's calendar (OverflowError); --top -1 silently dropped one.
    with pytest.raises(CommandError):
        run("chat_stats", *option)
