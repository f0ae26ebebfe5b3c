"""Every read of messages; callers pass a session they already got through an actor-scoped
selector, so ownership is checked once, where the id came in."""

from dataclasses import dataclass

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from chatbackend.errors import ValidationFailed
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession


@dataclass(frozen=True)
class HistoryPage:
    messages: list[ChatMessage]
    total: int
    limit: int
    offset: int
    has_more: bool


def history_page(
    *, session: ChatSession, limit: int = 50, offset: int = 0, after_seq: int | None = None
) -> HistoryPage:
    """Messages in `sequence_number` order: the page at `offset`, or those after `after_seq`.

    Sequence numbers are gapless from 1, so "skip `offset` messages" is the index range
    `sequence_number > offset`: the cost stays flat however long the conversation is.
    """
    from django.conf import settings

    if limit < 1 or limit > settings.CHAT_HISTORY_MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {settings.CHAT_HISTORY_MAX_LIMIT}",
            details={"field": "limit"},
        )
    if offset < 0 or (after_seq is not None and after_seq < 0):
        raise ValidationFailed("offset and afterSeq must not be negative")
    start = after_seq if after_seq is not None else offset
    messages = list(
        ChatMessage.objects.filter(session=session, sequence_number__gt=start).order_by(
            "sequence_number"
        )[:limit]
    )
    total = session.message_count
    last_seq = messages[-1].sequence_number if messages else start
    return HistoryPage(
        messages=messages,
        total=total,
        limit=limit,
        offset=offset if after_seq is None else start,
        has_more=last_seq < total,
    )


def recent_messages_by_session(
    *, session_ids: list, per_session: int
) -> dict[object, list[ChatMessage]]:
    """The last `per_session` messages of each session, in one query, oldest first."""
    if not session_ids or per_session < 1:
        return {session_id: [] for session_id in session_ids}
    ranked = (
        ChatMessage.objects.filter(session_id__in=session_ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("session_id")],
                order_by=F("sequence_number").desc(),
            )
        )
        .filter(rank__lte=per_session)
        .order_by("session_id", "sequence_number")
    )
    grouped: dict[object, list[ChatMessage]] = {session_id: [] for session_id in session_ids}
    for message in ranked:
        grouped[message.session_id].append(message)
    return grouped


def reply_to(message: ChatMessage) -> ChatMessage | None:
    """The reply stored in the same turn as `message`, if any: what its send returned.

    A person's later answer also names the message as its parent, and may even follow it
    directly (a turn handed off stores no reply), but it was stored at another moment; a
    turn's two rows share one timestamp (message_send), so a replayed send returns exactly
    what the first one did.
    """
    return ChatMessage.objects.filter(
        session_id=message.session_id,
        parent_message_id=message.pk,
        sequence_number=message.sequence_number + 1,
        created_at=message.created_at,
    ).first()


def history_tail(*, session: ChatSession, count: int = 50) -> list[ChatMessage]:
    """The last `count` messages of a session, oldest first (what a resumed chat shows)."""
    start = max(0, session.message_count - count)
    return list(
        ChatMessage.objects.filter(session=session, sequence_number__gt=start).order_by(
            "sequence_number"
        )[:count]
    )


def with_recent_messages(sessions, *, per_session: int) -> list[ChatSession]:
    """Sessions with `recent_messages` attached, all fetched in one query."""
    sessions = list(sessions)
    grouped = recent_messages_by_session(
        session_ids=[s.pk for s in sessions], per_session=per_session
    )
    for session in sessions:
        session.recent_messages = grouped[session.pk]
    return sessions
