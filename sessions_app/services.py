"""Every write to sessions: the status state machine (docs/sessions.md)."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chatbackend.errors import Conflict, PermissionDenied, ValidationFailed
from chatbackend.validation import clean_json_object
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.selectors import can_act_for, session_get, user_exists

MAX_METADATA_KEYS = 50


def _announce(session: ChatSession) -> None:
    """Tell every socket of the session about its new state, once the change is committed."""
    # Imported here: the API serializers import this app's models, not its services.
    from messaging_app.events import publish_session
    from sessions_app.api.serializers import SessionOutput

    transaction.on_commit(lambda: publish_session(session_json=SessionOutput(session).data))


def _touch(session: ChatSession, now: datetime) -> None:
    session.last_activity = now
    session.expires_at = now + settings.CHAT_SESSION_TTL


def session_create(
    *, actor, user_id: str | None = None, metadata: dict | None = None
) -> ChatSession:
    """Open a new active session for `user_id` (the actor by default; only staff name others)."""
    user_id = user_id or actor.get_username()
    if not can_act_for(actor, user_id):
        raise PermissionDenied("Only staff may open a session for another user")
    if user_id != actor.get_username() and not user_exists(user_id):
        # A session nobody can sign in to see would only ever collect staff's mistakes.
        raise ValidationFailed("There is no user with this userId", details={"field": "userId"})
    if metadata is not None:
        clean_json_object(metadata, field="metadata")
    if metadata and len(metadata) > MAX_METADATA_KEYS:
        raise ValidationFailed("metadata has too many keys", details={"field": "metadata"})
    now = timezone.now()
    session = ChatSession(user_id=user_id, metadata=metadata or {}, created_at=now)
    _touch(session, now)
    session.save(force_insert=True)
    return session


@transaction.atomic
def session_end(*, actor, session_id, reason: str | None = None) -> ChatSession:
    """End a session for good: inactive, `terminated`, with when and why."""
    session = session_get(actor=actor, session_id=session_id, for_update=True)
    if session.status == SessionStatus.TERMINATED:
        raise Conflict("Session already ended", code="session_closed")
    terminate(session, timezone.now(), reason or "user_request")
    session.save(update_fields=["status", "is_active", "ended_at", "ended_reason", "updated_at"])
    _announce(session)
    return session


def terminate(session: ChatSession, now: datetime, reason: str) -> None:
    """End a session for good (caller holds the lock and saves): inactive, `terminated`."""
    session.status = SessionStatus.TERMINATED
    session.is_active = False
    session.ended_at = now
    session.ended_reason = reason[:255]


@transaction.atomic
def session_resolve(*, actor, session_id, notes: str | None = None) -> ChatSession:
    """Mark a session resolved with notes; resolved sessions cannot be resumed."""
    session = session_get(actor=actor, session_id=session_id, for_update=True)
    if session.is_closed:
        raise Conflict(f"Session is already {session.status}", code="session_closed")
    now = timezone.now()
    session.status = SessionStatus.RESOLVED
    session.is_resolved = True
    session.is_active = False
    session.resolution_notes = notes or ""
    session.ended_at = now
    session.ended_reason = "resolved"
    session.save(
        update_fields=[
            "status",
            "is_resolved",
            "is_active",
            "resolution_notes",
            "ended_at",
            "ended_reason",
            "updated_at",
        ]
    )
    _announce(session)
    return session


def reactivate(session: ChatSession, now: datetime) -> None:
    """Bring an unresolved session (expired or idle) back to active; caller holds the lock."""
    if session.is_closed:
        raise Conflict(f"A {session.status} session cannot be resumed", code="session_closed")
    if session.status == SessionStatus.EXPIRED:
        session.status = SessionStatus.ACTIVE
    session.is_active = True
    _touch(session, now)


@transaction.atomic
def session_resume(*, actor, session_id) -> ChatSession:
    """Reactivate an unresolved session (active, pending or expired); 409 when resolved/ended."""
    session = session_get(actor=actor, session_id=session_id, for_update=True)
    reactivate(session, timezone.now())
    session.save(update_fields=["status", "is_active", "last_activity", "expires_at", "updated_at"])
    _announce(session)
    return session


def mark_pending(session: ChatSession, reason: str) -> None:
    """Hand the conversation to a person (caller holds the lock and saves): the bot stays
    quiet until staff hand it back."""
    session.status = SessionStatus.PENDING
    session.state = {**(session.state or {}), "handoffReason": reason}


@transaction.atomic
def session_hand_back(*, actor, session_id) -> ChatSession:
    """Staff return a pending session to the bot."""
    if not actor.is_staff:
        raise PermissionDenied("Only staff may hand a session back to the bot")
    session = session_get(actor=actor, session_id=session_id, for_update=True)
    if session.status != SessionStatus.PENDING:
        raise Conflict("Only a pending session can be handed back", code="invalid_transition")
    session.status = SessionStatus.ACTIVE
    session.is_active = True
    session.state = {k: v for k, v in (session.state or {}).items() if k != "handoffReason"}
    _touch(session, timezone.now())
    session.save(
        update_fields=["status", "is_active", "state", "last_activity", "expires_at", "updated_at"]
    )
    _announce(session)
    return session


# Sessions expired per transaction: a backlog (a missed cron window, an imported database)
# is worked off in short transactions holding few row locks, not one that holds them all.
EXPIRY_BATCH = 1000


def sessions_expire_idle(*, now: datetime | None = None) -> int:
    """Mark every active session idle past its TTL as `expired`; returns how many."""
    now = now or timezone.now()
    total = 0
    while True:
        expired = _expire_idle_batch(now)
        total += expired
        if expired < EXPIRY_BATCH:
            return total


@transaction.atomic
def _expire_idle_batch(now: datetime) -> int:
    # Rows a sender holds are skipped: that message keeps its session active anyway. Those
    # expired leave the filter, so the next batch takes the next ones.
    idle = list(
        ChatSession.objects.select_for_update(skip_locked=True)
        .filter(status=SessionStatus.ACTIVE, expires_at__lte=now)
        .order_by()[:EXPIRY_BATCH]
    )
    ChatSession.objects.filter(pk__in=[session.pk for session in idle]).update(
        status=SessionStatus.EXPIRED, is_active=False, updated_at=now
    )
    for session in idle:
        session.status = SessionStatus.EXPIRED
        session.is_active = False
        session.updated_at = now
        _announce(session)
    return len(idle)


@transaction.atomic
def sessions_retire_user(*, user_id: str, tombstone: str) -> int:
    """A deleted account's sessions: the open ones end, all are re-keyed out of reach.

    They are kept, not deleted (a bank keeps its conversations for audit), but a new account
    with the same username must never see them. Their messages carry the user id too (the
    clientMessageId replay matches on it), so they move with them. Returns how many sessions.
    """
    now = timezone.now()
    # The locks wait for any turn in flight, so its messages are committed (and re-keyed
    # below) before the sessions move; a turn that starts later no longer finds the session.
    sessions = list(ChatSession.objects.select_for_update().filter(user_id=user_id))
    ended = []
    for session in sessions:
        if not session.is_closed:
            terminate(session, now, "account_deleted")
            ended.append(session)
        session.user_id = tombstone
        # Who it was, for the auditors: the account row (and so the username) is gone.
        session.security = {
            **(session.security or {}),
            "retired": {"formerUserId": user_id, "at": now.isoformat()},
        }
        session.updated_at = now
    ChatSession.objects.bulk_update(
        sessions,
        ["user_id", "status", "is_active", "ended_at", "ended_reason", "security", "updated_at"],
    )
    ChatMessage.objects.filter(user_id=user_id).update(user_id=tombstone)
    for session in ended:
        _announce(session)
    return len(sessions)


@transaction.atomic
def sessions_move_user(*, old_user_id: str, new_user_id: str) -> int:
    """A renamed account keeps its sessions (and their messages); returns how many moved."""
    moved = ChatSession.objects.filter(user_id=old_user_id).update(user_id=new_user_id)
    ChatMessage.objects.filter(user_id=old_user_id).update(user_id=new_user_id)
    return moved
