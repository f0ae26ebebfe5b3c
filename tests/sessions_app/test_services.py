from datetime import timedelta

import pytest
from django.utils import timezone

from chatbackend.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.selectors import session_get, sessions_for_user
from sessions_app.services import (
    session_create,
    session_end,
    session_hand_back,
    session_resolve,
    session_resume,
    sessions_expire_idle,
)

pytestmark = pytest.mark.django_db


def test_create_defaults_to_the_caller_and_sets_expiry(user):
    session = session_create(actor=user, metadata={"channel": "web"})
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.user_id == "alice"
    assert stored.status == SessionStatus.ACTIVE and stored.is_active and not stored.is_resolved
    assert stored.metadata == {"channel": "web"}
    assert stored.expires_at - stored.last_activity == timedelta(minutes=30)


def test_only_staff_create_sessions_for_another_user(user, other_user, staff_user):
    with pytest.raises(PermissionDenied):
        session_create(actor=user, user_id="bob")
    assert not ChatSession.objects.filter(user_id="bob").exists()
    assert session_create(actor=staff_user, user_id="bob").user_id == "bob"


def test_staff_cannot_open_a_session_for_a_user_who_does_not_exist(staff_user):
    with pytest.raises(ValidationFailed):
        session_create(actor=staff_user, user_id="ghost-user")
    assert not ChatSession.objects.exists()


def test_create_rejects_metadata_that_is_not_an_object(user):
    with pytest.raises(ValidationFailed):
        session_create(actor=user, metadata=["a"])
    assert ChatSession.objects.count() == 0


def test_another_users_session_is_not_found(user, other_user, staff_user):
    session = session_create(actor=user)
    with pytest.raises(NotFound):
        session_get(actor=other_user, session_id=session.pk)
    with pytest.raises(NotFound):
        session_get(actor=user, session_id="not-a-uuid")
    assert session_get(actor=staff_user, session_id=session.pk) == session


def test_end_terminates_with_reason(user):
    session = session_create(actor=user)
    session_end(actor=user, session_id=session.pk, reason="user_closed_window")
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.status == SessionStatus.TERMINATED and not stored.is_active
    assert stored.ended_reason == "user_closed_window" and stored.ended_at is not None


def test_resolve_then_resume_is_a_conflict(user):
    session = session_create(actor=user)
    session_resolve(actor=user, session_id=session.pk, notes="Answered")
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.is_resolved and stored.resolution_notes == "Answered"
    with pytest.raises(Conflict):
        session_resume(actor=user, session_id=session.pk)
    assert ChatSession.objects.get(pk=session.pk).status == SessionStatus.RESOLVED


def test_terminated_sessions_cannot_be_resumed_or_resolved(user):
    session = session_create(actor=user)
    session_end(actor=user, session_id=session.pk)
    with pytest.raises(Conflict):
        session_resume(actor=user, session_id=session.pk)
    with pytest.raises(Conflict):
        session_resolve(actor=user, session_id=session.pk)


def test_a_backlog_of_idle_sessions_expires_in_batches(user, monkeypatch):
    from sessions_app import services

    monkeypatch.setattr(services, "EXPIRY_BATCH", 2)
    batches = []
    one_batch = services._expire_idle_batch
    monkeypatch.setattr(
        services, "_expire_idle_batch", lambda now: batches.append(one_batch(now)) or batches[-1]
    )
    committed = []
    monkeypatch.setattr(services, "_announce", lambda session: committed.append(session.pk))
    idle = [session_create(actor=user) for _ in range(5)]
    fresh = session_create(actor=user)
    past = timezone.now() - timedelta(seconds=1)
    ChatSession.objects.filter(pk__in=[s.pk for s in idle]).update(expires_at=past)

    assert sessions_expire_idle() == 5
    assert batches == [2, 2, 1]  # worked off in batches, none larger than EXPIRY_BATCH
    statuses = dict(ChatSession.objects.values_list("pk", "status"))
    assert {statuses[s.pk] for s in idle} == {SessionStatus.EXPIRED}
    assert statuses[fresh.pk] == SessionStatus.ACTIVE
    assert sorted(committed) == sorted(s.pk for s in idle)  # each announced once


def test_idle_sessions_expire_and_can_be_resumed(user):
    idle = session_create(actor=user)
    fresh = session_create(actor=user)
    ChatSession.objects.filter(pk=idle.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert sessions_expire_idle() == 1
    idle.refresh_from_db()
    fresh.refresh_from_db()
    assert idle.status == SessionStatus.EXPIRED and not idle.is_active
    assert fresh.status == SessionStatus.ACTIVE

    session_resume(actor=user, session_id=idle.pk)
    idle.refresh_from_db()
    assert idle.status == SessionStatus.ACTIVE and idle.is_active
    assert idle.expires_at > timezone.now()


def test_hand_back_is_staff_only_and_only_from_pending(user, staff_user):
    session = session_create(actor=user)
    with pytest.raises(Conflict):
        session_hand_back(actor=staff_user, session_id=session.pk)
    ChatSession.objects.filter(pk=session.pk).update(status=SessionStatus.PENDING)
    with pytest.raises(PermissionDenied):
        session_hand_back(actor=user, session_id=session.pk)
    session_hand_back(actor=staff_user, session_id=session.pk)
    assert ChatSession.objects.get(pk=session.pk).status == SessionStatus.ACTIVE


def test_lists_by_kind(user, other_user, staff_user):
    active = session_create(actor=user)
    resolved = session_create(actor=user)
    session_resolve(actor=user, session_id=resolved.pk)
    ended = session_create(actor=user)
    session_end(actor=user, session_id=ended.pk)
    expired = session_create(actor=user)
    ChatSession.objects.filter(pk=expired.pk).update(status=SessionStatus.EXPIRED, is_active=False)
    session_create(actor=other_user)

    def ids(kind):
        return {s.pk for s in sessions_for_user(actor=user, user_id="alice", kind=kind, limit=10)}

    assert ids("active") == {active.pk}
    assert ids("unresolved") == {active.pk, expired.pk}
    assert ids("recent") == {active.pk, resolved.pk, ended.pk, expired.pk}
    assert len(sessions_for_user(actor=user, user_id="alice", kind="recent", limit=2)) == 2
    with pytest.raises(PermissionDenied):
        sessions_for_user(actor=other_user, user_id="alice", kind="recent", limit=10)
    assert len(sessions_for_user(actor=staff_user, user_id="alice", kind="recent", limit=10)) == 4
