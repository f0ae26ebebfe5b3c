"""The admin as support staff use it: a staff user in the "support" group, not a superuser."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import session_create, session_end, session_resolve
from tests.admin.conftest import converse

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/sessions_app/chatsession/"


def change_url(session) -> str:
    return reverse("admin:sessions_app_chatsession_change", args=[session.pk])


def action_url(session, name: str) -> str:
    return reverse(f"admin:sessions_app_chatsession_{name}", args=[session.pk])


def listed(response) -> set[str]:
    return {str(s.pk) for s in response.context["cl"].result_list}


def refreshed(session) -> ChatSession:
    return ChatSession.objects.get(pk=session.pk)


@pytest.fixture
def staff(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def alice_session(user):
    return converse(user, "What is my balance?", "And my savings?")


@pytest.fixture
def pending_session(other_user):
    session = converse(other_user, "I want to talk to a person about a card dispute")
    # A hand-off as the orchestrator leaves it (sessions_app.services.mark_pending).
    ChatSession.objects.filter(pk=session.pk).update(
        status=SessionStatus.PENDING, state={"handoffReason": "user_request"}
    )
    return refreshed(session)


# --- the group ------------------------------------------------------------------------------
def test_the_migration_creates_the_support_group():
    group = Group.objects.get(name="support")
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == {
        "view_chatsession",
        "view_chatmessage",
        "reply_chatsession",
        "resolve_chatsession",
        "end_chatsession",
        "handback_chatsession",
    }
    assert not any(c.startswith(("delete_", "add_", "change_")) for c in codenames)


def test_support_staff_may_view_reply_and_resolve_but_not_delete(support_user):
    assert not support_user.is_superuser
    granted = support_user.get_all_permissions()
    assert {
        "sessions_app.view_chatsession",
        "messaging_app.view_chatmessage",
        "sessions_app.reply_chatsession",
        "sessions_app.resolve_chatsession",
    } <= granted
    assert (
        not {
            "sessions_app.delete_chatsession",
            "messaging_app.delete_chatmessage",
            "sessions_app.change_chatsession",
        }
        & granted
    )


# --- list, filters, search ------------------------------------------------------------------
def test_list_shows_sessions_with_message_count_and_last_activity(
    staff, alice_session, pending_session, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = staff.get(CHANGELIST)
    assert response.status_code == 200
    assert listed(response) == {str(alice_session.pk), str(pending_session.pk)}
    html = response.content.decode()
    assert "column-message_count" in html and "column-last_activity" in html
    assert 'class="field-message_count">4<' in html


def test_list_query_count_does_not_grow_with_sessions(staff, user, django_assert_max_num_queries):
    for _ in range(3):
        converse(user, "hi")
    with django_assert_max_num_queries(12) as few:
        staff.get(CHANGELIST)
    for _ in range(12):
        converse(user, "hi")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = staff.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 15


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status__exact=pending", {"pending"}),
        ("status__exact=resolved", {"resolved"}),
        ("is_resolved__exact=1", {"resolved"}),
        ("is_resolved__exact=0", {"alice", "pending"}),
        ("is_active__exact=1", {"alice", "pending"}),
        ("is_active__exact=0", {"resolved"}),
        ("handoff=pending", {"pending"}),
        ("handoff=bot", {"alice", "resolved"}),
    ],
)
def test_filters(staff, user, alice_session, pending_session, query, expected):
    resolved = converse(user, "thanks, all sorted")
    session_resolve(actor=user, session_id=resolved.pk, notes="ok")
    names = {"alice": alice_session, "pending": pending_session, "resolved": resolved}
    response = staff.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    assert listed(response) == {str(names[n].pk) for n in expected}


def test_date_hierarchy_narrows_by_creation_day(staff, alice_session):
    day = alice_session.created_at
    response = staff.get(
        f"{CHANGELIST}?created_at__year={day.year}&created_at__month={day.month}"
        f"&created_at__day={day.day}"
    )
    assert listed(response) == {str(alice_session.pk)}
    response = staff.get(f"{CHANGELIST}?created_at__year={day.year - 1}")
    assert listed(response) == set()


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("alice", "alice"),
        ("bob", "bob"),
        ("savings", "alice"),
        ("dispute", "bob"),
        ("ALIC", None),  # user ids match exactly, not as a fragment
        ("not-in-any-message", None),
    ],
)
def test_search_by_user_id_and_message_text(staff, alice_session, pending_session, term, who):
    response = staff.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    expected = {"alice": alice_session, "bob": pending_session}
    assert listed(response) == ({str(expected[who].pk)} if who else set())


def test_search_by_session_id(staff, alice_session, pending_session):
    response = staff.get(CHANGELIST, {"q": str(pending_session.pk)})
    assert listed(response) == {str(pending_session.pk)}


# --- the session page -----------------------------------------------------------------------
def test_session_page_shows_the_transcript_in_order_with_analysis(staff, alice_session):
    response = staff.get(change_url(alice_session))
    assert response.status_code == 200
    html = response.content.decode()
    contents = list(
        ChatMessage.objects.filter(session=alice_session)
        .order_by("sequence_number")
        .values_list("content", flat=True)
    )
    assert len(contents) == 4
    positions = [html.index(c.replace("'", "&#x27;")) for c in contents]
    assert positions == sorted(positions)
    assert "balance_inquiry" in html and "0.87" in html and "neutral" in html
    assert "user alice" in html and "bot (banking)" in html
    # Read-only: no save button, no editable message fields; the support actions are there.
    assert 'name="_save"' not in html
    assert 'name="messages-0-content"' not in html
    for name in ("reply", "resolve", "end"):
        assert f'action="{action_url(alice_session, name)}"' in html
    assert "hand-back" not in html  # only a pending session can be handed back


def test_a_long_session_shows_its_latest_messages_and_links_to_all(
    staff, alice_session, monkeypatch
):
    monkeypatch.setattr("sessions_app.admin.TRANSCRIPT_MAX_MESSAGES", 3)
    html = staff.get(change_url(alice_session)).content.decode()
    shown = [n for n in range(1, 5) if f'<td class="field-sequence_number">{n}</td>' in html]
    assert shown == [2, 3, 4]
    assert "the latest 3 of 4" in html
    assert f'/admin/messaging_app/chatmessage/?q={alice_session.pk}"' in html


def test_transcript_escapes_message_text(staff, user):
    session = converse(user, "<script>alert(1)</script>")
    html = staff.get(change_url(session)).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_hand_back_button_shows_for_a_pending_session(staff, pending_session):
    html = staff.get(change_url(pending_session)).content.decode()
    assert f'action="{action_url(pending_session, "hand_back")}"' in html
    assert "user_request" in html  # the hand-off reason


def test_a_closed_session_offers_no_actions(staff, user, alice_session):
    session_resolve(actor=user, session_id=alice_session.pk, notes="done")
    html = staff.get(change_url(alice_session)).content.decode()
    assert "Support actions" not in html


# --- actions on the session page ------------------------------------------------------------
def test_resolve_with_notes(staff, support_user, alice_session):
    response = staff.post(action_url(alice_session, "resolve"), {"notes": "Explained the fee"})
    assert response.status_code == 302 and response["Location"] == change_url(alice_session)
    stored = refreshed(alice_session)
    assert stored.status == SessionStatus.RESOLVED
    assert stored.is_resolved is True and stored.is_active is False
    assert stored.resolution_notes == "Explained the fee"
    assert stored.ended_reason == "resolved" and stored.ended_at is not None
    entry = LogEntry.objects.get(object_id=str(alice_session.pk))
    assert entry.user == support_user and entry.action_flag == CHANGE


def test_end(staff, alice_session):
    response = staff.post(action_url(alice_session, "end"), {"reason": "duplicate"})
    assert response.status_code == 302
    stored = refreshed(alice_session)
    assert stored.status == SessionStatus.TERMINATED and stored.is_active is False
    assert stored.ended_reason == "duplicate" and stored.ended_at is not None


def test_end_without_a_reason_names_the_staff_member(staff, alice_session):
    staff.post(action_url(alice_session, "end"), {"reason": ""})
    assert refreshed(alice_session).ended_reason == "ended by support (sam)"


def test_hand_back_to_the_bot(staff, pending_session):
    response = staff.post(action_url(pending_session, "hand_back"))
    assert response.status_code == 302
    stored = refreshed(pending_session)
    assert stored.status == SessionStatus.ACTIVE and stored.is_active is True
    assert "handoffReason" not in stored.state


def test_hand_back_of_a_session_that_is_not_pending_changes_nothing(staff, alice_session):
    before = refreshed(alice_session)
    response = staff.post(action_url(alice_session, "hand_back"), follow=True)
    assert "Only a pending session can be handed back" in response.content.decode()
    after = refreshed(alice_session)
    assert (after.status, after.updated_at) == (before.status, before.updated_at)
    assert not LogEntry.objects.exists()


def test_reply_is_stored_as_a_person(staff, pending_session):
    response = staff.post(action_url(pending_session, "reply"), {"content": "  Hi, Sam here.  "})
    assert response.status_code == 302
    reply = ChatMessage.objects.get(session=pending_session, sequence_number=3)
    assert reply.direction == "outgoing" and reply.content == "Hi, Sam here."
    assert reply.agent_info == {"primary": "human", "agentsInvolved": ["human"], "staff": "sam"}
    stored = refreshed(pending_session)
    assert stored.message_count == 3
    assert stored.status == SessionStatus.PENDING  # still with the person


def test_a_blank_reply_is_refused(staff, alice_session):
    response = staff.post(action_url(alice_session, "reply"), {"content": "   "}, follow=True)
    assert response.status_code == 200
    assert ChatMessage.objects.filter(session=alice_session).count() == 4
    assert refreshed(alice_session).message_count == 4


def test_actions_refuse_get(staff, alice_session):
    assert staff.get(action_url(alice_session, "resolve")).status_code == 405
    assert refreshed(alice_session).status == SessionStatus.ACTIVE


def test_actions_are_csrf_protected(support_user, alice_session):
    client = Client(enforce_csrf_checks=True)
    client.force_login(support_user)
    response = client.post(action_url(alice_session, "resolve"), {"notes": "forged"})
    assert response.status_code == 403
    assert refreshed(alice_session).status == SessionStatus.ACTIVE


def test_an_unknown_session_answers_with_a_message(staff):
    response = staff.post(
        "/admin/sessions_app/chatsession/00000000-0000-0000-0000-000000000000/resolve/",
        {"notes": "x"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Session not found" in response.content.decode()


# --- bulk actions on the list ---------------------------------------------------------------
def test_bulk_resolve_asks_for_notes_then_resolves(staff, alice_session, pending_session):
    selected = [str(alice_session.pk), str(pending_session.pk)]
    form = staff.post(CHANGELIST, {"action": "resolve_selected", "_selected_action": selected})
    assert form.status_code == 200 and b'name="notes"' in form.content
    assert ChatSession.objects.filter(status=SessionStatus.RESOLVED).count() == 0

    done = staff.post(
        CHANGELIST,
        {
            "action": "resolve_selected",
            "_selected_action": selected,
            "confirm": "yes",
            "notes": "Bulk close after outage",
        },
    )
    assert done.status_code == 302
    for session in (alice_session, pending_session):
        stored = refreshed(session)
        assert stored.status == SessionStatus.RESOLVED
        assert stored.resolution_notes == "Bulk close after outage"
    assert LogEntry.objects.count() == 2


def test_bulk_end_asks_first_then_ends_with_the_reason_given(staff, alice_session):
    # Ending is as final as resolving: the first post only asks.
    selected = [str(alice_session.pk)]
    form = staff.post(CHANGELIST, {"action": "end_selected", "_selected_action": selected})
    assert form.status_code == 200 and b'name="reason"' in form.content
    assert b"End these sessions?" in form.content
    assert refreshed(alice_session).status == SessionStatus.ACTIVE

    confirm = {"action": "end_selected", "_selected_action": selected, "confirm": "yes"}
    staff.post(CHANGELIST, {**confirm, "reason": "duplicate of another chat"})
    stored = refreshed(alice_session)
    assert stored.status == SessionStatus.TERMINATED
    assert stored.ended_reason == "duplicate of another chat"


@pytest.mark.parametrize("action", ["resolve_selected", "end_selected", "hand_back_selected"])
def test_a_bulk_action_on_too_many_sessions_changes_nothing(
    staff, alice_session, pending_session, monkeypatch, action
):
    monkeypatch.setattr("sessions_app.admin.BULK_ACTION_MAX_SESSIONS", 1)
    selected = [str(alice_session.pk), str(pending_session.pk)]
    response = staff.post(
        CHANGELIST,
        {"action": action, "_selected_action": selected, "confirm": "yes", "notes": "x"},
        follow=True,
    )
    assert "Select at most 1 sessions at a time; nothing was changed." in response.content.decode()
    assert refreshed(alice_session).status == SessionStatus.ACTIVE
    assert refreshed(pending_session).status == SessionStatus.PENDING


def test_bulk_end_skips_what_cannot_change(staff, user, alice_session):
    ended = converse(user, "bye")
    staff.post(action_url(ended, "end"), {"reason": "first"})
    response = staff.post(
        CHANGELIST,
        {
            "action": "end_selected",
            "_selected_action": [str(alice_session.pk), str(ended.pk)],
            "confirm": "yes",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Ended 1 session(s)." in html and "Left 1 unchanged" in html
    assert refreshed(alice_session).status == SessionStatus.TERMINATED
    assert refreshed(ended).ended_reason == "first"


def test_bulk_end_stops_cleanly_when_the_database_goes(staff, user, monkeypatch):
    first, second = converse(user, "one"), converse(user, "two")
    real_end = session_end
    calls = []

    def end_once_then_fail(**kwargs):
        calls.append(kwargs["session_id"])
        if len(calls) > 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_end(**kwargs)

    monkeypatch.setattr("sessions_app.admin.session_end", end_once_then_fail)
    response = staff.post(
        CHANGELIST,
        {
            "action": "end_selected",
            "_selected_action": [str(first.pk), str(second.pk)],
            "confirm": "yes",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "then the database stopped answering" in response.content.decode()
    statuses = {refreshed(first).status, refreshed(second).status}
    assert statuses == {SessionStatus.TERMINATED, SessionStatus.ACTIVE}


def test_bulk_hand_back(staff, pending_session):
    staff.post(
        CHANGELIST,
        {"action": "hand_back_selected", "_selected_action": [str(pending_session.pk)]},
    )
    assert refreshed(pending_session).status == SessionStatus.ACTIVE


# --- what support staff may not do ----------------------------------------------------------
def test_support_staff_cannot_delete(staff, alice_session):
    delete_url = reverse("admin:sessions_app_chatsession_delete", args=[alice_session.pk])
    assert staff.get(delete_url).status_code == 403
    assert staff.post(delete_url, {"post": "yes"}).status_code == 403
    response = staff.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [str(alice_session.pk)], "post": "yes"},
        follow=True,
    )
    assert "No action selected" in response.content.decode()  # delete is not on offer
    assert ChatSession.objects.filter(pk=alice_session.pk).exists()
    assert ChatMessage.objects.filter(session=alice_session).count() == 4
    assert b"delete_selected" not in staff.get(CHANGELIST).content


def test_support_staff_cannot_edit_or_add(staff, alice_session):
    response = staff.post(change_url(alice_session), {"user_id": "mallory", "_save": "Save"})
    assert response.status_code == 403
    assert staff.get(reverse("admin:sessions_app_chatsession_add")).status_code == 403
    assert refreshed(alice_session).user_id == "alice"


def test_messages_cannot_be_deleted_or_edited(staff, alice_session):
    message = ChatMessage.objects.filter(session=alice_session).first()
    delete_url = reverse("admin:messaging_app_chatmessage_delete", args=[message.pk])
    assert staff.post(delete_url, {"post": "yes"}).status_code == 403
    change = reverse("admin:messaging_app_chatmessage_change", args=[message.pk])
    assert staff.post(change, {"content": "rewritten"}).status_code == 403
    assert ChatMessage.objects.get(pk=message.pk).content == "What is my balance?"


def test_not_even_a_superuser_deletes_a_session_in_the_admin(client, django_user_model, user):
    root = django_user_model.objects.create_superuser(username="root", password="root-pass-123")
    client.force_login(root)
    empty = session_create(actor=user)  # no messages to protect it
    delete_url = reverse("admin:sessions_app_chatsession_delete", args=[empty.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    actions = client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _label in actions]
    assert ChatSession.objects.filter(pk=empty.pk).exists()


def test_staff_outside_the_group_may_not_act(client, staff_user, alice_session):
    client.force_login(staff_user)  # is_staff, but no group and no permissions
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(action_url(alice_session, "resolve"), {"notes": "x"}).status_code == 403
    assert refreshed(alice_session).status == SessionStatus.ACTIVE


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client, user, alice_session):
    client.force_login(user)
    response = client.post(action_url(alice_session, "resolve"), {"notes": "x"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert refreshed(alice_session).status == SessionStatus.ACTIVE


def test_message_list_is_searchable(staff, alice_session, pending_session):
    response = staff.get("/admin/messaging_app/chatmessage/", {"q": "dispute"})
    assert response.status_code == 200
    assert {m.session_id for m in response.context["cl"].result_list} == {pending_session.pk}


def test_a_session_with_many_matching_messages_is_listed_once(staff, alice_session):
    response = staff.get(CHANGELIST, {"q": "found"})  # in both of the bot's replies
    assert [str(s.pk) for s in response.context["cl"].result_list] == [str(alice_session.pk)]


@pytest.mark.parametrize(
    ("url", "term"),
    [
        (CHANGELIST, "user"),
        (CHANGELIST, "session"),
        ("/admin/messaging_app/chatmessage/", "user"),
        ("/admin/messaging_app/chatmessage/", "session"),
        ("/admin/messaging_app/chatmessage/", "message"),
    ],
)
def test_an_id_is_searched_by_its_index_not_in_message_text(
    staff, user, pending_session, url, term
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    message = ChatMessage.objects.filter(session=pending_session).first()
    typed = {"user": "bob", "session": str(pending_session.pk), "message": str(message.pk)}[term]
    converse(user, f"Please ask {typed} about it")  # alice's text holds the id: not a match
    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url, {"q": typed})
    found = {row.session_id for row in response.context["cl"].result_list}
    assert found == {pending_session.pk}
    assert not [q["sql"] for q in queries if "LIKE" in q["sql"].upper()]


def test_a_word_that_is_also_a_user_id_says_so_and_quoted_searches_the_text(
    staff, user, django_user_model
):
    mentions = converse(user, "I want a refund please")
    refund_user = django_user_model.objects.create_user(username="refund", password="r-pass-123")
    own = converse(refund_user, "hello")

    as_user = staff.get(CHANGELIST, {"q": "refund"})
    assert listed(as_user) == {str(own.pk)}
    assert "search for it in quotes: &quot;refund&quot;" in as_user.content.decode()
    as_text = staff.get(CHANGELIST, {"q": '"refund"'})
    assert str(mentions.pk) in listed(as_text)


def test_a_username_that_is_a_uuid_is_found(staff, django_user_model):
    name = "6f1c2d1e-8a55-4d61-9d1f-0b6c3a9e2f10"
    uuid_named = django_user_model.objects.create_user(username=name, password="u-pass-123")
    session = converse(uuid_named, "hello")
    assert listed(staff.get(CHANGELIST, {"q": name})) == {str(session.pk)}
