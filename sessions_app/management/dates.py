"""Date arguments for ops commands: a day (2026-01-31) or an ISO 8601 time, UTC when naive;
and counts of days, which a datetime can hold."""

import argparse
from datetime import UTC, datetime, time

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime


def date_or_datetime(raw: str) -> datetime:
    """argparse type: midnight UTC for a bare date, the time itself otherwise."""
    try:
        parsed = parse_datetime(raw)
        if parsed is None:
            day = parse_date(raw)
            parsed = datetime.combine(day, time.min) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {raw!r}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


# Past this, now - N days leaves the calendar datetime can hold (OverflowError), and no chat
# history reaches back a century anyway.
MAX_DAYS = 36_500


def day_count(raw: str) -> int:
    """argparse type: a number of days, 1 to MAX_DAYS."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"a number of days from 1 to {MAX_DAYS}: {raw!r}")
    return value


def positive_int(raw: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1: {raw!r}")
    return value
