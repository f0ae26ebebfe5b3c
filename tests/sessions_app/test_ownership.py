"""Sessions follow the account, not the username (sessions_app/signals.py).

`chat_sessions.user_id` is the username with no foreign key, so without these rules a new
account that takes a deleted or renamed account's username would be handed its conversations.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from chatbackend.errors import NotFound
from messaging_app.models import ChatMessage
from messaging_app.services import chat_message_send, message_send
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.selectors import session_get
from sessions_app.services import session_create, session_resolve
from tests.conftest import bearer, echo_responder

pytestmark = pytest.mark.django_db


def _conversation(user, content="What is my balance?"):
    session = session_create(actor=user)
    message_send(actor=user, session_id=session.pk, content=content, responder=echo_responder)
    return session


def _sees_nothing_of(api, account, session):
    """Every way `account` could reach `session` answers as if it did not exist."""
    auth = bearer(account)
    assert api.get(f"/api/sessions/{session.pk}/history", **auth).status_code == 404
    assert api.get(f"/api/sessions/{session.pk}", **auth).status_code == 404
    assert api.post(f"/api/sessions/{session.pk}/resume", **auth).status_code == 404
    for kind in ("active", "unresolved", "recent"):
        listed = api.get(f"/api/users/{account.username}/sessions?type={kind}", **auth)
        assert listed.status_code == 200
        assert listed.json()["count"] == 0, kind


def test_a_new_account_with_a_deleted_username_gets_none_of_its_sessions(api, user):
    session = _conversation(user)
    assert api.get(f"/api/sessions/{session.pk}/history", **bearer(user)).status_code == 200

    user.delete()
    newcomer = get_user_model().objects.create_user(username="alice", password="new-pass-123")

    _sees_nothing_of(api, newcomer, session)
    assert ChatSession.objects.filter(pk=session.pk).exists()  # kept, out of reach


def test_deleting_an_account_retires_its_sessions_and_keeps_them(user):
    open_session = _conversation(user)
    resolved = session_create(actor=user)
    session_resolve(actor=user, session_id=resolved.pk, notes="Answered")
    expired = session_create(actor=user)
    ChatSession.objects.filter(pk=expired.pk).update(status=SessionStatus.EXPIRED, is_active=False)
    pk, before = user.pk, timezone.now()

    user.delete()

    tombstone = f"deleted:{pk}"
    for ended in (open_session, expired):
        ended.refresh_from_db()
        assert ended.user_id == tombstone
        assert ended.status == SessionStatus.TERMINATED and not ended.is_active
        assert ended.ended_reason == "account_deleted" and ended.ended_at >= before
    resolved.refresh_from_db()
    assert resolved.user_id == tombstone
    assert resolved.status == SessionStatus.RESOLVED and resolved.ended_reason == "resolved"
    assert resolved.security["retired"]["formerUserId"] == "alice"
    assert ChatMessage.objects.filter(session=open_session).count() == 2
    assert set(ChatMessage.objects.values_list("user_id", flat=True)) == {tombstone}


def test_staff_still_find_retired_sessions_for_audit(api, user, staff_user):
    session = _conversation(user)
    pk = user.pk
    user.delete()
    assert session_get(actor=staff_user, session_id=session.pk).user_id == f"deleted:{pk}"
    listed = api.get(f"/api/users/deleted:{pk}/sessions?type=recent", **bearer(staff_user))
    assert listed.status_code == 200
    assert [s["sessionId"] for s in listed.json()["sessions"]] == [str(session.pk)]
    history = api.get(f"/api/sessions/{session.pk}/history", **bearer(staff_user))
    assert history.json()["total"] == 2


def test_a_queryset_delete_retires_sessions_too(user, other_user):
    session = _conversation(user)
    kept = _conversation(other_user)
    get_user_model().objects.filter(username__in=["alice", "bob"]).delete()
    newcomer = get_user_model().objects.create_user(username="alice")
    with pytest.raises(NotFound):
        session_get(actor=newcomer, session_id=session.pk)
    assert {s.user_id for s in ChatSession.objects.all()} == {
        f"deleted:{user.pk}",
        f"deleted:{other_user.pk}",
    }
    assert ChatSession.objects.get(pk=kept.pk).status == SessionStatus.TERMINATED


def test_a_deleted_accounts_client_message_id_is_not_replayed_to_a_new_account(user):
    first = chat_message_send(
        actor=user, content="hello", client_message_id="c-1", responder=echo_responder
    )
    user.delete()
    newcomer = get_user_model().objects.create_user(username="alice")
    again = chat_message_send(
        actor=newcomer, content="hello", client_message_id="c-1", responder=echo_responder
    )
    assert not again.replayed
    assert again.session.pk != first.session.pk and again.session.user_id == "alice"


def test_a_renamed_account_keeps_its_sessions_and_the_old_name_gets_none(api, user):
    session = _conversation(user)

    user.username = "alice.smith"
    user.save()
    newcomer = get_user_model().objects.create_user(username="alice", password="new-pass-123")

    user.refresh_from_db()
    auth = bearer(user)
    history = api.get(f"/api/sessions/{session.pk}/history", **auth)
    assert history.status_code == 200 and history.json()["total"] == 2
    listed = api.get("/api/users/alice.smith/sessions?type=recent", **auth).json()
    assert [s["sessionId"] for s in listed["sessions"]] == [str(session.pk)]
    assert set(ChatMessage.objects.values_list("user_id", flat=True)) == {"alice.smith"}
    _sees_nothing_of(api, newcomer, session)


def test_a_rename_with_update_fields_moves_sessions_and_other_saves_leave_them(user):
    session = session_create(actor=user)
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    assert ChatSession.objects.get(pk=session.pk).user_id == "alice"

    user.username = "alice2"
    user.save(update_fields=["username"])
    assert ChatSession.objects.get(pk=session.pk).user_id == "alice2"


@pytest.mark.django_db(transaction=True)
def test_a_rename_that_fails_moves_nothing(user, other_user):
    # Autocommit, as in a shell or a script: nothing would roll a premature move back.
    mine, theirs = session_create(actor=user), session_create(actor=other_user)
    user.username = "bob"  # taken
    with pytest.raises(IntegrityError):
        user.save()
    assert ChatSession.objects.get(pk=mine.pk).user_id == "alice"
    assert ChatSession.objects.get(pk=theirs.pk).user_id == "bob"


def test_usernames_cannot_take_the_retired_form(user):
    users = get_user_model()
    with pytest.raises(ValidationError):
        users(username="deleted:1").full_clean()  # Django's own validator
    with pytest.raises(ValidationError):
        users.objects.create_user(username="deleted:1")  # ORM saves skip validators
    user.username = "deleted:1"
    with pytest.raises(ValidationError):
        user.save()
    assert not users.objects.filter(username__contains=":").exists()
