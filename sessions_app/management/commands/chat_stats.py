import csv
import json
from datetime import UTC, datetime, time, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from sessions_app.management.dates import date_or_datetime, day_count, positive_int
from sessions_app.management.stats import DayStats, chat_stats_by_day

COLUMNS = ["day", "sessions", "messages", "resolved", "resolution_rate", "median_to_resolve"]


def duration(value: timedelta | None) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def as_json(stats: DayStats) -> dict:
    median = stats.median_time_to_resolve
    return {
        "day": stats.day.isoformat() if stats.day else "total",
        "sessions": stats.sessions,
        "messages": stats.messages,
        "resolved": stats.resolved,
        "resolutionRate": stats.resolution_rate,
        "medianSecondsToResolve": median.total_seconds() if median is not None else None,
        "topIntents": [{"intent": name, "count": n} for name, n in stats.top_intents],
    }


class Command(BaseCommand):
    help = (
        "Daily figures (UTC): sessions opened, messages, resolution rate, median time to "
        "resolve, top intents; with a total line for the whole period."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=day_count, default=7, help="the last N days, today included (default 7)"
        )
        parser.add_argument(
            "--since", type=date_or_datetime, help="first day (overrides --days)", metavar="DATE"
        )
        parser.add_argument(
            "--until", type=date_or_datetime, help="end, exclusive (default: now)", metavar="DATE"
        )
        parser.add_argument(
            "--top", type=positive_int, default=3, help="intents per day (default 3)"
        )
        parser.add_argument(
            "--format", dest="output_format", choices=["table", "json", "csv"], default="table"
        )

    def handle(self, *args, days, since, until, top, output_format, **options):
        now = timezone.now()
        until = until or now
        if since is None:
            today = datetime.combine(now.astimezone(UTC).date(), time.min, UTC)
            since = today - timedelta(days=days - 1)
        if since >= until:
            raise CommandError("--since must be before --until")
        try:
            rows, total = chat_stats_by_day(since=since, until=until, top=top)
        except DatabaseError as exc:
            raise CommandError(f"Could not read statistics: {exc.__class__.__name__}") from exc
        {"table": self.write_table, "json": self.write_json, "csv": self.write_csv}[output_format](
            rows, total
        )

    def write_json(self, rows, total):
        body = {"days": [as_json(r) for r in rows], "total": as_json(total)}
        self.stdout.write(json.dumps(body, indent=2))

    def write_csv(self, rows, total):
        writer = csv.writer(self.stdout._out, lineterminator="\n")
        writer.writerow([*COLUMNS, "top_intents"])
        for stats in [*rows, total]:
            body = as_json(stats)
            writer.writerow(
                [
                    body["day"],
                    stats.sessions,
                    stats.messages,
                    stats.resolved,
                    "" if stats.resolution_rate is None else f"{stats.resolution_rate:.4f}",
                    ""
                    if body["medianSecondsToResolve"] is None
                    else body["medianSecondsToResolve"],
                    " ".join(f"{name}:{n}" for name, n in stats.top_intents),
                ]
            )

    def write_table(self, rows, total):
        header = ["day", "sessions", "messages", "resolved", "rate", "median", "top intents"]
        lines = [header]
        for stats in [*rows, total]:
            lines.append(
                [
                    stats.day.isoformat() if stats.day else "total",
                    str(stats.sessions),
                    str(stats.messages),
                    str(stats.resolved),
                    rate(stats.resolution_rate),
                    duration(stats.median_time_to_resolve),
                    ", ".join(f"{name} ({n})" for name, n in stats.top_intents) or "-",
                ]
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
        for index, line in enumerate(lines):
            cells = [
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=False))
            ]
            self.stdout.write("  ".join([*cells, line[-1]]).rstrip())
            if index == 0 or index == len(lines) - 2:
                self.stdout.write("  ".join("-" * w for w in widths) + "  " + "-" * 11)
