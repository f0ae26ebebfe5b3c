"""Hostile input over REST and WebSocket: a clear 4xx or `error` frame, never a 500, and the
database unchanged afterwards."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DataError
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession
from sessions_app.services import session_create
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(user):
    return session_create(actor=user)


def nothing_stored(session) -> bool:
    session.refresh_from_db()
    return ChatMessage.objects.count() == 0 and session.message_count == 0


def send_raw(api, user, session, raw: str):
    return api.post(
        f"/api/sessions/{session.pk}/messages", raw, content_type="application/json", **bearer(user)
    )


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ('{"message": "' + "x" * 2001 + '"}', 400, "message_too_long"),
        ('{"message": "   "}', 400, "validation_error"),
        ('{"message": "nul \\u0000 byte"}', 400, "validation_error"),
        ('{"message": "lone \\ud800 surrogate"}', 400, "validation_error"),
        ('{"message": 42}', 400, "validation_error"),
        ('{"message": "hi", "type": ["text"]}', 400, "validation_error"),
        ('{"message": "hi", "clientMessageId": {"a": 1}}', 400, "validation_error"),
        ('{"message": "hi", "clientMessageId": "\\ud800"}', 400, "validation_error"),
        ("[" * 20_000 + "]" * 20_000, 400, "validation_error"),
        ("[" * 50_000 + "]" * 50_000, 413, "payload_too_large"),
        ('{"message": ' + "[" * 3000 + "]" * 3000 + "}", 400, "validation_error"),
        ("not json at all", 400, "validation_error"),
        ('["message", "hi"]', 400, "validation_error"),
    ],
)
def test_bad_message_bodies(api, user, session, raw, status, code):
    response = send_raw(api, user, session, raw)
    assert response.status_code == status, response.content[:300]
    assert response.json()["error"]["code"] == code
    assert nothing_stored(session)


def test_an_oversized_body_is_413(api, user, session):
    response = send_raw(api, user, session, '{"message": "' + "x" * 70_000 + '"}')
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert nothing_stored(session)


@pytest.mark.parametrize(
    "path",
    [
        "/api/sessions/%00",
        "/api/sessions/abc%00def/history",
        "/api/users/al%00ice/sessions",
    ],
)
def test_nul_in_a_path(api, user, session, path):
    response = api.get(path, **bearer(user))
    assert response.status_code in {400, 403, 404}
    assert "error" in response.json()
    assert nothing_stored(session)


def test_nul_in_a_user_id_is_400_for_staff_too(api, staff_user):
    # Staff may list anyone's sessions, so the id reaches the query: it must be refused first.
    response = api.get("/api/users/al%00ice/sessions", **bearer(staff_user))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("raw", ['{"metadata": {"rate": 1e999}}', '{"metadata": {"a": [-1e400]}}'])
def test_numbers_json_cannot_hold_are_refused(api, user, raw):
    # Python's JSON parser reads them as infinity; jsonb would refuse them with a 500.
    response = api.post("/api/sessions", raw, content_type="application/json", **bearer(user))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not ChatSession.objects.exists()


def test_a_value_the_database_refuses_is_a_400_not_a_500(api, user, session, monkeypatch):
    # The backstop behind validation: whatever slips through is the client's 400.
    def refused(**_kwargs):
        raise DataError("invalid input syntax for type json")

    monkeypatch.setattr("messaging_app.api.views.chat_message_send", refused)
    response = send_raw(api, user, session, '{"message": "hi"}')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "code"),
    [(DataError("value too long"), "validation_error"), (RuntimeError("bug"), "internal_error")],
)
async def test_a_failing_event_is_an_error_frame_and_the_socket_stays_open(
    user, monkeypatch, failure, code
):
    def failing(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr("messaging_app.realtime.chat_message_send", failing)
    answer = await _frame_answer(user, '{"event": "chat:message", "data": {"content": "hi"}}')
    assert answer["event"] == "error" and answer["data"]["code"] == code


@pytest.mark.parametrize(
    "query", ["limit=%00", "offset=1%00", "afterSeq=%00", "limit=1000000", "offset=-5", "limit=-1"]
)
def test_bad_history_queries(api, user, session, query):
    response = api.get(f"/api/sessions/{session.pk}/history?{query}", **bearer(user))
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_list_limit_is_capped(api, user):
    response = api.get("/api/users/alice/sessions?limit=1000000", **bearer(user))
    assert response.status_code == 400


# --- WebSocket frames ------------------------------------------------------------------------
async def _frame_answer(user, frame=None, bytes_data=None) -> dict:
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    assert (await ws.connect())[0]
    if bytes_data is not None:
        await ws.send_to(bytes_data=bytes_data)
    else:
        await ws.send_to(text_data=frame)
    answer = json.loads(await ws.receive_from(timeout=5))
    await ws.send_json_to({"event": "ping", "data": {}})
    assert json.loads(await ws.receive_from(timeout=5))["event"] == "pong"  # still open
    await ws.disconnect()
    return answer


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "invalid_json"),
        ("42", "invalid_frame"),
        ('"chat:message"', "invalid_frame"),
        ('{"event": "chat:delete_everything", "data": {}}', "unknown_event"),
        ('{"event": 5, "data": {}}', "invalid_frame"),
        ('{"event": "chat:message", "data": "hi"}', "invalid_frame"),
        ('{"event": "chat:message", "data": {"content": ["hi"]}}', "validation_error"),
        ('{"event": "chat:message", "data": {"content": "hi", "type": 3}}', "validation_error"),
        ('{"event": "chat:message", "data": {"content": "a\\u0000b"}}', "validation_error"),
        ('{"event": "chat:message", "data": {"content": "a\\udfffb"}}', "validation_error"),
        (
            '{"event": "chat:message", "data": {"content": "hi", "clientMessageId": "\\ud800"}}',
            "validation_error",
        ),
        (
            '{"event": "chat:history", "data": {"sessionId": "x", "limit": "all"}}',
            "session_not_found",
        ),
        ('{"event": "chat:message", "data": ' + "[" * 4000 + "]" * 4000 + "}", "invalid_json"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(user, frame, code):
    answer = await _frame_answer(user, frame)
    assert answer["event"] == "error" and answer["data"]["code"] == code
    assert answer["data"]["retryable"] is False
    assert await sync_to_async(ChatMessage.objects.count)() == 0


@pytest.mark.django_db(transaction=True)
async def test_binary_and_oversized_frames(user):
    assert (await _frame_answer(user, bytes_data=b"\x81\x00"))["data"][
        "code"
    ] == "binary_not_supported"
    big = json.dumps({"event": "chat:message", "data": {"content": "x" * 17_000}})
    assert (await _frame_answer(user, big))["data"]["code"] == "frame_too_large"
    assert await sync_to_async(ChatMessage.objects.count)() == 0


@pytest.mark.django_db(transaction=True)
async def test_history_limit_over_500_over_websocket(user):
    session = await sync_to_async(session_create)(actor=user)
    frame = json.dumps(
        {"event": "chat:history", "data": {"sessionId": str(session.pk), "limit": 1000000}}
    )
    assert (await _frame_answer(user, frame))["data"]["code"] == "validation_error"
    assert await sync_to_async(ChatSession.objects.count)() == 1
