"""Date arguments for ops commands: a day (2026-01-31) or an ISO 8601 time, UTC when naive."""

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
