import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import session_create
from tests.conftest import bearer, echo_responder

pytestmark = pytest.mark.django_db

SESSION_KEYS = {
    "sessionId",
    "userId",
    "status",
    "isActive",
    "isResolved",
    "lastActivity",
    "expiresAt",
    "messageCount",
    "createdAt",
    "updatedAt",
    "endedAt",
    "endedReason",
    "resolutionNotes",
    "metadata",
    "conversationContext",
}


def error_code(response):
    return response.json()["error"]["code"]


@pytest.fixture
def session(user):
    return session_create(actor=user)


def talk(user, session, n=1):
    for i in range(n):
        message_send(actor=user, session_id=session.pk, content=f"m{i}", responder=echo_responder)
    session.refresh_from_db()


# --- create ---------------------------------------------------------------------------------
def test_create_session_for_the_caller(api, user):
    response = api.post(
        "/api/sessions", {"metadata": {"channel": "web"}}, format="json", **bearer(user)
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == SESSION_KEYS
    stored = ChatSession.objects.get(pk=body["sessionId"])
    assert stored.user_id == "alice" and stored.metadata == {"channel": "web"}
    assert body["status"] == "active" and body["isActive"] is True


def test_create_session_with_no_body(api, user):
    response = api.post("/api/sessions", **bearer(user))
    assert response.status_code == 201
    assert ChatSession.objects.filter(user_id="alice").count() == 1


def test_create_needs_a_token(api):
    assert api.post("/api/sessions", {}, format="json").status_code == 401
    assert ChatSession.objects.count() == 0


def test_create_for_another_user_is_staff_only(api, user, other_user, staff_user):
    refused = api.post("/api/sessions", {"userId": "bob"}, format="json", **bearer(user))
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    assert not ChatSession.objects.filter(user_id="bob").exists()
    allowed = api.post("/api/sessions", {"userId": "bob"}, format="json", **bearer(staff_user))
    assert allowed.status_code == 201 and allowed.json()["userId"] == "bob"


@pytest.mark.parametrize("body", [{"metadata": "not-an-object"}, {"userId": "x" * 151}, ["a"]])
def test_create_rejects_bad_input(api, user, body):
    response = api.post("/api/sessions", body, format="json", **bearer(user))
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert ChatSession.objects.count() == 0


@pytest.mark.parametrize("raw", ["null", "[]", "0", "false", '""'])
@pytest.mark.parametrize("action", ["create", "end", "resolve"])
def test_a_json_body_that_is_not_an_object_is_refused(api, user, session, raw, action):
    # Only an absent body stands for an empty object; JSON that is not an object is a 400
    # whether or not it happens to be falsy.
    method, path = {
        "create": ("post", "/api/sessions"),
        "end": ("delete", f"/api/sessions/{session.pk}"),
        "resolve": ("post", f"/api/sessions/{session.pk}/resolve"),
    }[action]

    response = getattr(api, method)(path, raw, content_type="application/json", **bearer(user))

    assert response.status_code == 400 and error_code(response) == "validation_error"
    session.refresh_from_db()
    assert session.status == "active" and ChatSession.objects.count() == 1


def test_mass_assignment_of_status_is_ignored(api, user):
    response = api.post(
        "/api/sessions",
        {"status": "resolved", "isResolved": True, "messageCount": 99},
        format="json",
        **bearer(user),
    )
    stored = ChatSession.objects.get(pk=response.json()["sessionId"])
    assert (stored.status, stored.is_resolved, stored.message_count) == ("active", False, 0)


# --- read / end / resolve / resume ------------------------------------------------------
def test_get_session(api, user, session):
    response = api.get(f"/api/sessions/{session.pk}", **bearer(user))
    assert response.status_code == 200 and response.json()["sessionId"] == str(session.pk)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("delete", ""),
        ("post", "/resume"),
        ("post", "/resolve"),
        ("get", "/history"),
        ("post", "/messages"),
    ],
)
def test_another_users_session_is_404_everywhere(api, other_user, session, method, suffix):
    response = getattr(api, method)(
        f"/api/sessions/{session.pk}{suffix}",
        {"message": "hi"} if suffix == "/messages" else None,
        format="json",
        **bearer(other_user),
    )
    assert response.status_code == 404 and error_code(response) == "session_not_found"
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.status == SessionStatus.ACTIVE and stored.message_count == 0


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("delete", ""),
        ("post", "/resume"),
        ("post", "/resolve"),
        ("get", "/history"),
        ("post", "/messages"),
    ],
)
def test_every_session_endpoint_needs_a_token(api, session, method, suffix):
    response = getattr(api, method)(f"/api/sessions/{session.pk}{suffix}")
    assert response.status_code == 401 and error_code(response) == "unauthorized"
    assert ChatSession.objects.get(pk=session.pk).status == SessionStatus.ACTIVE


def test_unknown_and_malformed_ids_are_404(api, user):
    assert api.get(f"/api/sessions/{uuid.uuid4()}", **bearer(user)).status_code == 404
    assert api.get("/api/sessions/not-a-uuid", **bearer(user)).status_code == 404


def test_end_session(api, user, session):
    response = api.delete(
        f"/api/sessions/{session.pk}", {"reason": "done"}, format="json", **bearer(user)
    )
    assert response.status_code == 200
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.status == "terminated" and not stored.is_active and stored.ended_reason == "done"
    again = api.delete(f"/api/sessions/{session.pk}", **bearer(user))
    assert again.status_code == 409


def test_end_rejects_bad_reason(api, user, session):
    response = api.delete(
        f"/api/sessions/{session.pk}", {"reason": "x" * 300}, format="json", **bearer(user)
    )
    assert response.status_code == 400
    assert ChatSession.objects.get(pk=session.pk).status == "active"


def test_resolve_session(api, user, session):
    response = api.post(
        f"/api/sessions/{session.pk}/resolve", {"notes": "All good"}, format="json", **bearer(user)
    )
    assert response.status_code == 200 and response.json()["isResolved"] is True
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.status == "resolved" and stored.resolution_notes == "All good"


def test_resolve_rejects_bad_notes(api, user, session):
    response = api.post(
        f"/api/sessions/{session.pk}/resolve", {"notes": ["x"]}, format="json", **bearer(user)
    )
    assert response.status_code == 400
    assert ChatSession.objects.get(pk=session.pk).status == "active"


def test_resume_returns_history_in_order(api, user, session):
    talk(user, session, 3)
    ChatSession.objects.filter(pk=session.pk).update(status="expired", is_active=False)
    response = api.post(f"/api/sessions/{session.pk}/resume", **bearer(user))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["sessionId"] == str(session.pk)
    assert [m["sequence_number"] for m in body["history"]] == [1, 2, 3, 4, 5, 6]
    assert body["session"]["status"] == "active"
    assert ChatSession.objects.get(pk=session.pk).is_active


def test_resume_of_a_resolved_session_is_409(api, user, session):
    api.post(f"/api/sessions/{session.pk}/resolve", **bearer(user))
    response = api.post(f"/api/sessions/{session.pk}/resume", **bearer(user))
    assert response.status_code == 409 and error_code(response) == "session_closed"
    assert ChatSession.objects.get(pk=session.pk).status == "resolved"


# --- history ---------------------------------------------------------------------------------
def test_history_pages(api, user, session, django_assert_num_queries):
    talk(user, session, 5)
    with django_assert_num_queries(3):  # token's user, the session, one page
        response = api.get(f"/api/sessions/{session.pk}/history?limit=4&offset=2", **bearer(user))
    body = response.json()
    assert response.status_code == 200
    assert [m["sequence_number"] for m in body["messages"]] == [3, 4, 5, 6]
    assert (body["total"], body["limit"], body["offset"], body["hasMore"]) == (10, 4, 2, True)
    assert set(body["messages"][0]) >= {
        "message_id",
        "session_id",
        "direction",
        "content",
        "sequence_number",
    }


def test_history_after_seq(api, user, session):
    talk(user, session, 3)
    body = api.get(f"/api/sessions/{session.pk}/history?afterSeq=4", **bearer(user)).json()
    assert [m["sequence_number"] for m in body["messages"]] == [5, 6]
    same = api.get(f"/api/chat/history?sessionId={session.pk}&afterSeq=4", **bearer(user)).json()
    assert same["messages"] == body["messages"]


@pytest.mark.parametrize(
    "query", ["limit=1000000", "limit=0", "offset=-1", "limit=abc", "afterSeq=-3"]
)
def test_history_rejects_bad_paging(api, user, session, query):
    response = api.get(f"/api/sessions/{session.pk}/history?{query}", **bearer(user))
    assert response.status_code == 400 and error_code(response) == "validation_error"


# --- lists -----------------------------------------------------------------------------------
def test_user_session_lists(api, user, django_assert_num_queries):
    sessions = [session_create(actor=user) for _ in range(3)]
    for s in sessions:
        talk(user, s, 4)
    api.post(f"/api/sessions/{sessions[0].pk}/resolve", **bearer(user))
    with django_assert_num_queries(3):  # token's user, sessions, their recent messages
        response = api.get("/api/users/alice/sessions?type=unresolved", **bearer(user))
    body = response.json()
    assert response.status_code == 200
    assert (body["userId"], body["type"], body["count"]) == ("alice", "unresolved", 2)
    assert {s["sessionId"] for s in body["sessions"]} == {str(s.pk) for s in sessions[1:]}
    assert all(len(s["recentMessages"]) == 5 for s in body["sessions"])
    assert [m["sequence_number"] for m in body["sessions"][0]["recentMessages"]] == [4, 5, 6, 7, 8]

    recent = api.get("/api/users/alice/sessions?type=recent&limit=2", **bearer(user)).json()
    assert recent["count"] == 2 and all(len(s["recentMessages"]) == 3 for s in recent["sessions"])


def test_another_users_list_is_403_unless_staff(api, user, other_user, staff_user):
    session_create(actor=user)
    refused = api.get("/api/users/alice/sessions", **bearer(other_user))
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    assert api.get("/api/users/alice/sessions", **bearer(staff_user)).json()["count"] == 1
    assert api.get("/api/users/alice/sessions").status_code == 401


@pytest.mark.parametrize("query", ["type=everything", "limit=101", "limit=0"])
def test_list_rejects_bad_query(api, user, query):
    response = api.get(f"/api/users/alice/sessions?{query}", **bearer(user))
    assert response.status_code == 400


def test_expired_sessions_show_as_unresolved_not_active(api, user, session):
    ChatSession.objects.filter(pk=session.pk).update(
        status="expired", is_active=False, expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert api.get("/api/users/alice/sessions?type=active", **bearer(user)).json()["count"] == 0
    assert api.get("/api/users/alice/sessions?type=unresolved", **bearer(user)).json()["count"] == 1


def test_unknown_paths_and_methods_use_the_error_body(api, user):
    missing = api.get("/api/nothing-here", **bearer(user))
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    wrong_method = api.put("/api/sessions", {}, format="json", **bearer(user))
    assert wrong_method.status_code == 405 and error_code(wrong_method) == "method_not_allowed"
    assert ChatMessage.objects.count() == 0


def test_metadata_is_limited_in_bytes_not_characters(api, user):
    # 3,000 emoji are 3,000 characters but 12,000 bytes of UTF-8: over the 8 KiB cap.
    emoji = {"note": "\U0001f600" * 3000}
    ascii_ = {"note": "x" * 3000}

    too_big = api.post("/api/sessions", {"metadata": emoji}, format="json", **bearer(user))
    fits = api.post("/api/sessions", {"metadata": ascii_}, format="json", **bearer(user))

    assert too_big.status_code == 400 and error_code(too_big) == "validation_error"
    assert fits.status_code == 201
    assert ChatSession.objects.count() == 1


@pytest.mark.parametrize(
    "raw_metadata",
    [
        r'{"a": "nul\u0000"}',
        r'{"k\u0000": 1}',
        r'{"a": "\ud800"}',
        '{"deep": [[[[[[[[[[1]]]]]]]]]]}',
        '{"big": "' + "x" * 9000 + '"}',
    ],
)
def test_metadata_that_postgres_cannot_store_is_a_400(api, user, raw_metadata):
    body = '{"metadata": ' + raw_metadata + "}"
    response = api.post("/api/sessions", body, content_type="application/json", **bearer(user))
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert ChatSession.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"message": "hi", "type": {}},
        {"message": "hi", "type": "video"},
        {"message": "hi", "clientMessageId": 5},
        {"message": ["hi"]},
    ],
)
def test_send_rejects_wrong_field_types(api, user, session, body):
    response = api.post(f"/api/sessions/{session.pk}/messages", body, format="json", **bearer(user))
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert ChatMessage.objects.count() == 0
