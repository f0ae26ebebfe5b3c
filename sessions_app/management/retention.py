"""Deleting old conversations (`manage.py purge_sessions`): what a retention policy removes.

A session's age is its last activity, whatever its status: a conversation nobody has touched
for the whole retention period goes, messages and all (chat_messages cascades in PostgreSQL).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Min, Sum

from sessions_app.models import ChatSession


@dataclass(frozen=True)
class PurgePlan:
    cutoff: datetime
    sessions: int
    messages: int
    oldest_activity: datetime | None
    by_status: dict[str, int] = field(default_factory=dict)


def purge_plan(*, cutoff: datetime) -> PurgePlan:
    """What a purge at `cutoff` would delete: counts only, nothing is changed."""
    old = ChatSession.objects.filter(last_activity__lt=cutoff)
    totals = old.aggregate(
        sessions=Count("pk"), messages=Sum("message_count"), oldest=Min("last_activity")
    )
    by_status = dict(
        old.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return PurgePlan(
        cutoff=cutoff,
        sessions=totals["sessions"],
        messages=totals["messages"] or 0,
        oldest_activity=totals["oldest"],
        by_status=dict(sorted(by_status.items())),
    )


@transaction.atomic
def sessions_purge_batch(*, cutoff: datetime, batch_size: int) -> tuple[int, int]:
    """Delete up to `batch_size` sessions idle since before `cutoff`; returns (sessions,
    messages) deleted. Each batch is its own short transaction, so a long purge never holds
    many locks or one huge transaction."""
    # Rows a sender holds are skipped: a message being stored right now is new activity, and
    # the lock keeps last_activity from changing between this check and the delete.
    batch = list(
        ChatSession.objects.select_for_update(skip_locked=True)
        .filter(last_activity__lt=cutoff)
        .order_by("last_activity")
        .values_list("pk", "message_count")[:batch_size]
    )
    if not batch:
        return 0, 0
    ChatSession.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
    return len(batch), sum(count for _, count in batch)
