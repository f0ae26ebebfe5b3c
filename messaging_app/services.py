"""Every write of messages. REST and WebSocket both send through `message_send`."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chatbackend.errors import Conflict, PermissionDenied, ValidationFailed
from chatbackend.ratelimits import enforce_message_rate
from chatbackend.validation import unstorable_text
from messaging_app.api.serializers import MessageOutput
from messaging_app.events import publish_messages, publish_session
from messaging_app.models import ChatMessage, Direction
from messaging_app.selectors import reply_to
from sessions_app.api.serializers import SessionOutput
from sessions_app.models import CLOSED_STATUSES, ChatSession
from sessions_app.selectors import session_get
from sessions_app.services import reactivate, session_create

MAX_CLIENT_MESSAGE_ID = 100
MESSAGE_TYPES = frozenset({"text", "quick_reply", "command", "voice_transcript"})


@dataclass
class ReplyDraft:
    """What a responder (the agent orchestrator) found and answers for one user message.

    `content` is None when nobody should answer (a pending hand-off: a person will).
    The analysis fields are stored on both the user's message and the reply.
    """

    content: str | None
    message_type: str = "text"
    intent: str | None = None
    entities: Any = None
    sentiment: str | None = None
    confidence: float | None = None
    processing_time_ms: int | None = None
    agent_info: dict | None = None
    processing: dict | None = None
    metadata: dict = field(default_factory=dict)
    error_info: dict | None = None


# Called under the session's row lock, inside the turn's transaction: it may read and change
# session.conversation_context / state / status, and those changes commit with the messages.
Responder = Callable[..., ReplyDraft]


@dataclass(frozen=True)
class TurnResult:
    session: ChatSession
    message: ChatMessage
    reply: ChatMessage | None
    replayed: bool = False  # True when a resent clientMessageId returned the stored turn


# Format characters that render as nothing (zero-width space, joiners, word joiner, BOM), which
# str.strip() keeps: a message of only these is as blank as one of spaces.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def clean_content(raw: Any) -> str:
    """Content as the contract allows it: a string of 1-2000 characters after trimming,
    with no NUL and no lone surrogate (PostgreSQL cannot store either)."""
    if not isinstance(raw, str):
        raise ValidationFailed("message must be a string", details={"field": "message"})
    content = raw.strip()
    if not content.strip(INVISIBLE):
        raise ValidationFailed("message must not be blank", details={"field": "message"})
    if len(content) > settings.CHAT_MESSAGE_MAX_LENGTH:
        raise ValidationFailed(
            f"message must be at most {settings.CHAT_MESSAGE_MAX_LENGTH} characters",
            code="message_too_long",
            details={"field": "message", "maxLength": settings.CHAT_MESSAGE_MAX_LENGTH},
        )
    if unstorable_text(content):
        raise ValidationFailed(
            "message must not contain NUL or lone surrogates", details={"field": "message"}
        )
    return content


def clean_client_message_id(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or len(raw) > MAX_CLIENT_MESSAGE_ID or unstorable_text(raw):
        raise ValidationFailed(
            f"clientMessageId must be a string of at most {MAX_CLIENT_MESSAGE_ID} characters",
            details={"field": "clientMessageId"},
        )
    return raw


def clean_message_type(raw: Any) -> str:
    if raw is None:
        return "text"
    if not isinstance(raw, str) or raw not in MESSAGE_TYPES:
        raise ValidationFailed(
            f"type must be one of {sorted(MESSAGE_TYPES)}", details={"field": "type"}
        )
    return raw


def default_responder() -> Responder:
    # Imported here: the agent pipeline builds on this module (ReplyDraft), not the other way.
    from agents_app.orchestrator import default_orchestrator

    return default_orchestrator()


def message_send(
    *,
    actor,
    session_id,
    content: Any,
    responder: Responder | None = None,
    message_type: Any = None,
    client_message_id: Any = None,
    origin: str | None = None,
) -> TurnResult:
    """Store a user's message and its reply in one transaction, numbered under a row lock.

    A resent `client_message_id` returns the stored turn and stores nothing; the same id with
    different content is a Conflict. Nothing is visible to anyone before the commit.
    """
    content = clean_content(content)
    message_type = clean_message_type(message_type)
    client_message_id = clean_client_message_id(client_message_id)

    with transaction.atomic():
        # The row lock serialises writers of one session, so sequence numbers derived from
        # message_count are unique and gapless even with many concurrent senders.
        session = session_get(actor=actor, session_id=session_id, for_update=True)
        if session.user_id != actor.get_username():
            # Staff may read, resolve and end any session, but a message here is the customer's
            # own: the agents would act on the customer's accounts in their name. Staff answer
            # as a person (message_staff_reply, from the admin).
            raise PermissionDenied(
                "Only the session's owner sends messages in it; staff reply as a person"
            )
        if client_message_id:
            stored = session.messages.filter(client_message_id=client_message_id).first()
            if stored is not None:
                return _replayed(session, stored, content)
        now = timezone.now()
        status_before = session.status
        reactivate(session, now)  # refuses resolved / terminated; revives expired sessions
        # Counted on the session's own id (a client may spell a UUID many ways), only once the
        # caller is known to own it (nobody else can use up its quota) and the session takes
        # messages, and before anything is stored, so a refused message leaves no trace. A
        # replay above costs nothing.
        enforce_message_rate(session.pk)
        responder = responder or default_responder()
        draft = responder(session=session, content=content, message_type=message_type)

        analysis = {
            "intent": draft.intent,
            "entities": draft.entities,
            "sentiment": draft.sentiment,
            "confidence_score": draft.confidence,
        }
        message = ChatMessage(
            session=session,
            user_id=session.user_id,
            direction=Direction.INCOMING,
            content=content,
            message_type=message_type,
            sequence_number=session.message_count + 1,
            client_message_id=client_message_id,
            created_at=now,
            **analysis,
        )
        rows = [message]
        reply = None
        if draft.content is not None:
            reply = ChatMessage(
                session=session,
                user_id=session.user_id,
                direction=Direction.OUTGOING,
                content=draft.content,
                message_type=draft.message_type,
                sequence_number=session.message_count + 2,
                parent_message_id=message.message_id,
                processing_time_ms=draft.processing_time_ms,
                agent_info=draft.agent_info,
                processing=draft.processing,
                metadata=draft.metadata,
                error_info=draft.error_info,
                created_at=now,
                **analysis,
            )
            rows.append(reply)
        ChatMessage.objects.bulk_create(rows)

        session.message_count += len(rows)
        session.save(
            update_fields=[
                "message_count",
                "status",
                "is_active",
                "last_activity",
                "expires_at",
                "conversation_context",
                "state",
                "updated_at",
            ]
        )
        # Others see the turn only once it is committed (and never if it rolls back).
        transaction.on_commit(
            lambda: announce_turn(
                session, rows, origin=origin, status_changed=session.status != status_before
            )
        )
    return TurnResult(session, message, reply)


def _replayed(session, stored: ChatMessage, content: str) -> TurnResult:
    """The stored turn for a resent clientMessageId; the same id with other content is a 409."""
    if stored.content != content:
        raise Conflict(
            "clientMessageId was already used for a different message",
            code="duplicate_client_message_id",
            details={"clientMessageId": stored.client_message_id},
        )
    return TurnResult(session, stored, reply_to(stored), replayed=True)


def announce_turn(session, rows, *, origin: str | None, status_changed: bool) -> None:
    publish_messages(
        session_id=session.pk,
        messages=[MessageOutput(row).data for row in rows],
        origin=origin,
    )
    if status_changed:
        publish_session(session_json=SessionOutput(session).data)


def chat_message_send(*, actor, session_id=None, content: Any, **options: Any) -> TurnResult:
    """`message_send`, opening a new session for the actor first when no session id is given.

    `options` are message_send's: responder, message_type, client_message_id, origin.
    """
    if session_id is not None:
        return message_send(actor=actor, session_id=session_id, content=content, **options)
    # Refuse bad input before a session is opened for it.
    cleaned = clean_content(content)
    client_message_id = clean_client_message_id(options.get("client_message_id"))
    with transaction.atomic():
        if client_message_id:
            stored = _first_message_sent(actor, client_message_id)
            if stored is not None:
                return _replayed(stored.session, stored, cleaned)
        session = session_create(actor=actor)
        return message_send(actor=actor, session_id=session.pk, content=content, **options)


def _first_message_sent(actor, client_message_id: str) -> ChatMessage | None:
    """The send that opened one of this user's sessions, if this is a retry of it.

    A client that retries the send that opened a session has no session id to name, so the
    retry is matched on the user: the same clientMessageId, recently, in a session still open
    (other content there is the contract's 409). Later, or once that session is closed, the
    id starts a new conversation (clients may number messages per conversation, "web-1" each
    time) and never leads back into an old or closed one. Locking the user's row makes
    concurrent retries wait for the first, so only one of them opens a session.
    """
    list(get_user_model().objects.select_for_update().filter(pk=actor.pk).values_list("pk"))
    since = timezone.now() - timedelta(seconds=settings.CHAT_FIRST_MESSAGE_REPLAY_SECONDS)
    return (
        ChatMessage.objects.filter(
            user_id=actor.get_username(),
            client_message_id=client_message_id,
            sequence_number=1,
            created_at__gte=since,
        )
        .exclude(session__status__in=CLOSED_STATUSES)
        .select_related("session")
        .order_by("-created_at")
        .first()
    )


def message_staff_reply(*, actor, session_id, content: Any) -> ChatMessage:
    """A support person's answer in a user's session, pushed live to the user's sockets.

    The session keeps its status: a pending hand-off stays with the person until they resolve
    it or hand it back to the bot.
    """
    if not actor.is_staff:
        raise PermissionDenied("Only staff may reply as a person")
    content = clean_content(content)
    with transaction.atomic():
        session = session_get(actor=actor, session_id=session_id, for_update=True)
        if session.is_closed:
            raise Conflict(f"A {session.status} session cannot be answered", code="session_closed")
        now = timezone.now()
        last_from_user = (
            session.messages.filter(direction=Direction.INCOMING)
            .order_by("-sequence_number")
            .values_list("message_id", flat=True)
            .first()
        )
        reply = ChatMessage.objects.create(
            session=session,
            user_id=session.user_id,
            direction=Direction.OUTGOING,
            content=content,
            sequence_number=session.message_count + 1,
            parent_message_id=last_from_user,
            agent_info={
                "primary": "human",
                "agentsInvolved": ["human"],
                "staff": actor.get_username(),
            },
            metadata={"quickReplies": [], "suggestedActions": []},
            created_at=now,
        )
        session.message_count += 1
        session.last_activity = now
        session.save(update_fields=["message_count", "last_activity", "updated_at"])
        transaction.on_commit(
            lambda: announce_turn(session, [reply], origin=None, status_changed=False)
        )
    return reply
