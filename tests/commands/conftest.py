from datetime import datetime, timedelta

import pytest
from django.core.management import call_command

from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession, SessionStatus


class Run:
    """A command's output, with stdout and stderr apart (exports must keep stdout clean)."""

    def __init__(self, stdout: str, stderr: str):
        self.stdout, self.stderr = stdout, stderr


@pytest.fixture
def run():
    def run_command(*args) -> Run:
        from io import StringIO

        out, err = StringIO(), StringIO()
        call_command(*args, stdout=out, stderr=err)
        return Run(out.getvalue(), err.getvalue())

    return run_command


def make_session(
    user_id: str,
    *,
    created: datetime,
    messages: int = 2,
    status: str = SessionStatus.ACTIVE,
    resolved_after: timedelta | None = None,
    intent: str | None = "balance_inquiry",
    last_activity: datetime | None = None,
) -> ChatSession:
    """A session as it would be at `created`, with `messages` stored turns' rows."""
    ended = created + resolved_after if resolved_after is not None else None
    session = ChatSession.objects.create(
        user_id=user_id,
        status=SessionStatus.RESOLVED if ended else status,
        is_resolved=ended is not None,
        is_active=ended is None and status in (SessionStatus.ACTIVE, SessionStatus.PENDING),
        created_at=created,
        last_activity=last_activity or ended or created,
        expires_at=created + timedelta(minutes=30),
        ended_at=ended,
        ended_reason="resolved" if ended else None,
        message_count=messages,
    )
    ChatMessage.objects.bulk_create(
        ChatMessage(
            session=session,
            user_id=user_id,
            direction="incoming" if seq % 2 else "outgoing",
            content=f"message {seq} of {user_id}",
            intent=intent,
            sequence_number=seq,
            created_at=created,
        )
        for seq in range(1, messages + 1)
    )
    return session
