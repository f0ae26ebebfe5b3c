"""Daily chat figures for `manage.py chat_stats`, computed in PostgreSQL (a few grouped
queries whatever the number of rows).

Days are UTC calendar days. Sessions, resolutions and time to resolve are counted on the day a
session was opened; messages and intents on the day they were sent.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, F, Q
from django.db.models.functions import TruncDate

from messaging_app.models import ChatMessage, Direction
from sessions_app.models import ChatSession


class Median(Aggregate):
    """PostgreSQL's exact median (percentile_cont works on intervals as well as numbers)."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


@dataclass
class DayStats:
    day: date | None  # None for the whole period
    sessions: int = 0
    messages: int = 0
    resolved: int = 0
    median_time_to_resolve: timedelta | None = None
    top_intents: list[tuple[str, int]] = field(default_factory=list)

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.sessions if self.sessions else None


RESOLVED = Q(is_resolved=True, ended_at__isnull=False)


def _session_figures(*, in_database: bool) -> dict:
    figures = {"sessions": Count("pk"), "resolved": Count("pk", filter=Q(is_resolved=True))}
    if in_database:
        figures["median"] = Median(F("ended_at") - F("created_at"), filter=RESOLVED)
    return figures


def _medians_in_python(sessions) -> tuple[dict[date, timedelta], timedelta | None]:
    """The same medians without PERCENTILE_CONT, for SQLite (`make run`): reads one pair of
    times per resolved session, fine for a development database."""
    durations: dict[date, list[timedelta]] = defaultdict(list)
    for created, ended in sessions.filter(RESOLVED).values_list("created_at", "ended_at"):
        durations[created.astimezone(UTC).date()].append(ended - created)
    every = [d for values in durations.values() for d in values]
    return (
        {day: median(values) for day, values in durations.items()},
        median(every) if every else None,
    )


def chat_stats_by_day(
    *, since: datetime, until: datetime, top: int = 3
) -> tuple[list[DayStats], DayStats]:
    """One row per UTC day in [since, until), plus the whole period; days with no traffic
    are included as zeros so a report has no holes."""
    # Rows are grouped by UTC day, so the list of days must be UTC days too: 20:00 in New York
    # on 1 March is 2 March in UTC.
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    sessions = ChatSession.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
    messages = ChatMessage.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
    intents = messages.filter(direction=Direction.INCOMING, intent__isnull=False).exclude(intent="")

    days: dict[date, DayStats] = {}
    day = since.date()
    while datetime.combine(day, datetime.min.time(), since.tzinfo) < until:
        days[day] = DayStats(day=day)
        day += timedelta(days=1)

    def row(day_value: date) -> DayStats:
        return days.setdefault(day_value, DayStats(day=day_value))

    in_database = connection.vendor == "postgresql"
    figures = _session_figures(in_database=in_database)
    for item in sessions.annotate(day=TruncDate("created_at")).values("day").annotate(**figures):
        stats = row(item["day"])
        stats.sessions, stats.resolved = item["sessions"], item["resolved"]
        stats.median_time_to_resolve = item.get("median")
    for item in (
        messages.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("pk"))
    ):
        row(item["day"]).messages = item["n"]
    by_day: dict[date, Counter] = defaultdict(Counter)
    for item in (
        intents.annotate(day=TruncDate("created_at"))
        .values("day", "intent")
        .annotate(n=Count("pk"))
    ):
        by_day[item["day"]][item["intent"]] = item["n"]
    for day_value, counter in by_day.items():
        row(day_value).top_intents = _top(counter, top)

    whole = sessions.aggregate(**figures)
    if not in_database:
        by_day_median, whole["median"] = _medians_in_python(sessions)
        for day_value, value in by_day_median.items():
            row(day_value).median_time_to_resolve = value
    total = DayStats(
        day=None,
        sessions=whole["sessions"],
        resolved=whole["resolved"],
        median_time_to_resolve=whole["median"],
        messages=sum(d.messages for d in days.values()),
        top_intents=_top(sum(by_day.values(), Counter()), top),
    )
    return [days[d] for d in sorted(days)], total


def _top(counter: Counter, top: int) -> list[tuple[str, int]]:
    # Ties in name order, so the same data always gives the same report.
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:top]
