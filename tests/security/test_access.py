"""Who may do what: every bad token refused everywhere, other users' sessions invisible,
fields a client must not set ignored or refused, cross-origin handshakes refused."""

from datetime import timedelta

import jwt
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.models import ChatSession
from sessions_app.services import session_create
from tests.conftest import bearer, echo_responder

pytestmark = pytest.mark.django_db


def bad_tokens(user) -> dict[str, str]:
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    claims = dict(AccessToken.for_user(user).payload)
    return {
        "expired": str(expired),
        "forged signature": jwt.encode(claims, "x" * 40, algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "signed with SECRET_KEY": jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256"),
        "wrong issuer": jwt.encode(
            {**claims, "iss": "evil"}, settings.JWT_SECRET, algorithm="HS256"
        ),
        "refresh as access": str(RefreshToken.for_user(user)),
        "garbage": "abc.def.ghi",
    }


def endpoints(session_id) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", "/auth/me", None),
        ("post", "/auth/logout", {"refreshToken": "x"}),
        ("post", "/api/sessions", {}),
        ("get", f"/api/sessions/{session_id}", None),
        ("delete", f"/api/sessions/{session_id}", None),
        ("post", f"/api/sessions/{session_id}/resume", None),
        ("post", f"/api/sessions/{session_id}/resolve", {"notes": "x"}),
        ("get", f"/api/sessions/{session_id}/history", None),
        ("post", f"/api/sessions/{session_id}/messages", {"message": "hi"}),
        ("post", "/api/chat/message", {"message": "hi", "sessionId": str(session_id)}),
        ("get", f"/api/chat/history?sessionId={session_id}", None),
        ("get", "/api/users/alice/sessions", None),
        ("get", "/api/agents", None),
    ]


def test_every_endpoint_refuses_every_bad_token(api, user):
    session = session_create(actor=user)
    for kind, token in bad_tokens(user).items():
        for method, path, body in endpoints(session.pk):
            response = getattr(api, method)(
                path, body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            assert response.status_code == 401, (kind, method, path)
            # /auth/logout ignores a bad Bearer (its credential is the refresh token, so it
            # works once the access token has expired) and refuses the bad refresh token.
            code = "invalid_token" if path == "/auth/logout" else "unauthorized"
            assert response.json()["error"]["code"] == code, (kind, path)
        for method, path, body in endpoints(session.pk):
            assert getattr(api, method)(path, body, format="json").status_code == 401, (
                "none",
                path,
            )
    assert ChatSession.objects.count() == 1 and ChatMessage.objects.count() == 0
    assert ChatSession.objects.get().status == "active"


def test_a_deactivated_users_token_is_refused(api, user):
    session = session_create(actor=user)
    headers = bearer(user)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    for method, path, body in endpoints(session.pk):
        assert getattr(api, method)(path, body, format="json", **headers).status_code == 401, path
    assert ChatMessage.objects.count() == 0


def test_another_users_session_on_every_endpoint(api, user, other_user):
    session = session_create(actor=user)
    message_send(actor=user, session_id=session.pk, content="mine", responder=echo_responder)
    for method, path, body in endpoints(session.pk):
        if path in {"/auth/me", "/auth/logout", "/api/sessions", "/api/agents"}:
            continue
        response = getattr(api, method)(path, body, format="json", **bearer(other_user))
        expected = 403 if path.startswith("/api/users/") else 404
        assert response.status_code == expected, (method, path, response.content)
    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.status, stored.message_count) == ("active", 2)
    assert ChatMessage.objects.count() == 2


def test_mass_assignment_is_ignored_or_refused(api, user):
    created = api.post(
        "/api/sessions",
        {
            "userId": "bob",
            "status": "resolved",
            "isResolved": True,
            "messageCount": 7,
            "is_staff": True,
        },
        format="json",
        **bearer(user),
    )
    assert created.status_code == 403  # naming another user is staff-only
    created = api.post(
        "/api/sessions",
        {
            "status": "resolved",
            "isResolved": True,
            "messageCount": 7,
            "is_staff": True,
            "sessionId": "x",
        },
        format="json",
        **bearer(user),
    )
    session = ChatSession.objects.get(pk=created.json()["sessionId"])
    assert (session.status, session.is_resolved, session.message_count) == ("active", False, 0)

    sent = api.post(
        f"/api/sessions/{session.pk}/messages",
        {
            "message": "hi",
            "sequence_number": 99,
            "direction": "outgoing",
            "user_id": "bob",
            "is_staff": True,
        },
        format="json",
        **bearer(user),
    )
    assert sent.status_code == 200
    message = ChatMessage.objects.get(pk=sent.json()["message"]["message_id"])
    assert (message.sequence_number, message.direction, message.user_id) == (1, "incoming", "alice")
    user.refresh_from_db()
    assert not user.is_staff

    login = api.post(
        "/auth/login",
        {"username": "alice", "password": "alice-pass-123", "is_staff": True},
        format="json",
    )
    assert login.json()["user"]["isStaff"] is False


@pytest.mark.django_db(transaction=True)
async def test_websocket_refuses_bad_tokens_with_4001(user):
    tokens = await sync_to_async(bad_tokens)(user)
    for kind, token in tokens.items():
        ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
        await ws.connect()
        output = await ws.receive_output(timeout=3)
        assert output == {"type": "websocket.close", "code": 4001}, kind


@pytest.mark.django_db(transaction=True)
async def test_session_join_on_another_users_session_is_refused(user, other_user):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(other_user)))()
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    await ws.connect()
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    answer = await ws.receive_json_from(timeout=5)
    assert answer["event"] == "error" and answer["data"]["code"] == "session_not_found"
    # Not joined: a message in that session does not reach this socket.
    await sync_to_async(message_send)(
        actor=user, session_id=session.pk, content="private", responder=echo_responder
    )
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "origin", [b"https://evil.example", b"http://localhost:3006.evil.example", b"null"]
)
async def test_cross_origin_handshake_is_refused(user, origin):
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    ws = WebsocketCommunicator(
        application, f"/ws/chat/?token={token}", headers=[(b"origin", origin)]
    )
    connected, _ = await ws.connect()
    assert not connected
