"""Every read of sessions, scoped by who is asking."""

from typing import Literal
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from chatbackend.errors import NotFound, PermissionDenied, ValidationFailed
from chatbackend.validation import unstorable_text
from sessions_app.models import ChatSession, SessionStatus

SessionListKind = Literal["active", "unresolved", "recent"]
SESSION_LIST_KINDS: tuple[SessionListKind, ...] = ("active", "unresolved", "recent")


def can_act_for(actor, user_id: str) -> bool:
    return bool(actor.is_staff or actor.get_username() == user_id)


def user_exists(user_id: str) -> bool:
    """A chat user id is a Django username (the contract)."""
    users = get_user_model()
    return users.objects.filter(**{users.USERNAME_FIELD: user_id}).exists()


def sessions_visible_to(actor) -> QuerySet[ChatSession]:
    qs = ChatSession.objects.all()
    return qs if actor.is_staff else qs.filter(user_id=actor.get_username())


def session_get(*, actor, session_id, for_update: bool = False) -> ChatSession:
    """The session if `actor` may see it; otherwise NotFound, exactly as for a missing one."""
    not_found = NotFound("Session not found", code="session_not_found")
    try:
        session_uuid = session_id if isinstance(session_id, UUID) else UUID(str(session_id))
    except ValueError:
        # Malformed ids are indistinguishable from unknown ones on purpose.
        raise not_found from None
    qs = sessions_visible_to(actor)
    if for_update:
        qs = qs.select_for_update()
    try:
        return qs.get(pk=session_uuid)
    except ChatSession.DoesNotExist:
        raise not_found from None


def sessions_for_user(
    *, actor, user_id: str, kind: SessionListKind, limit: int
) -> QuerySet[ChatSession]:
    """A user's active, unresolved or recent sessions, newest activity first."""
    if unstorable_text(user_id):
        raise ValidationFailed("userId contains invalid characters", details={"field": "userId"})
    if not can_act_for(actor, user_id):
        raise PermissionDenied("You may only list your own sessions", code="forbidden")
    qs = ChatSession.objects.filter(user_id=user_id)
    if kind == "active":
        qs = qs.filter(is_active=True)
    elif kind == "unresolved":
        # Unresolved and not ended: what a user can still come back to (active, pending
        # hand-off or expired). Served by idx_chat_session_user_unresolved.
        qs = qs.filter(is_resolved=False).exclude(status=SessionStatus.TERMINATED)
    return qs.order_by("-last_activity")[:limit]
