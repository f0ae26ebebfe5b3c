"""60 messages a minute per session over REST and WebSocket, across instances; login limits
that a spoofed X-Forwarded-For cannot reset."""

import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.services import session_create
from tests.conftest import bearer, echo_responder
from tests.support import LiveServer, live_env, seconds_left_in_message_window

pytestmark = pytest.mark.django_db


def wait_for_a_fresh_window(session_id, needed_seconds: float = 10) -> None:
    """django-ratelimit counts in fixed one-minute windows; start well inside one."""
    time_left = seconds_left_in_message_window(session_id)
    if time_left < needed_seconds:
        time.sleep(time_left + 1)


def fill(user, session, n: int) -> None:
    for i in range(n):
        message_send(actor=user, session_id=session.pk, content=f"m{i}", responder=echo_responder)


def test_the_61st_rest_message_is_429_and_not_stored(api, user, monkeypatch):
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)
    session = session_create(actor=user)
    wait_for_a_fresh_window(session.pk)
    fill(user, session, 60)
    response = api.post(
        f"/api/sessions/{session.pk}/messages",
        {"message": "one more"},
        format="json",
        **bearer(user),
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["details"]["retryAfter"] == int(response["Retry-After"])
    assert not ChatMessage.objects.filter(content="one more").exists()
    assert ChatMessage.objects.filter(session=session).count() == 120


def test_the_limit_is_per_session(api, user, monkeypatch):
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)
    busy, quiet = session_create(actor=user), session_create(actor=user)
    wait_for_a_fresh_window(busy.pk)
    fill(user, busy, 60)
    ok = api.post(
        f"/api/sessions/{quiet.pk}/messages", {"message": "hi"}, format="json", **bearer(user)
    )
    assert ok.status_code == 200


def test_every_spelling_of_the_session_id_counts_against_its_limit(api, user, monkeypatch):
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)
    session = session_create(actor=user)
    wait_for_a_fresh_window(session.pk)
    fill(user, session, 60)
    uuid = session.pk
    for spelling in [str(uuid).upper(), uuid.hex, f"{{{uuid}}}", f"urn:uuid:{uuid}"]:
        response = api.post(
            "/api/chat/message",
            {"message": "more"},
            format="json",
            HTTP_X_SESSION_ID=spelling,
            **bearer(user),
        )
        assert response.status_code == 429, spelling
    assert not ChatMessage.objects.filter(content="more").exists()


def test_another_user_cannot_use_up_a_sessions_limit(api, user, other_user, monkeypatch):
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)
    session = session_create(actor=user)
    wait_for_a_fresh_window(session.pk)
    url = f"/api/sessions/{session.pk}/messages"
    statuses = {
        api.post(url, {"message": "spam"}, format="json", **bearer(other_user)).status_code
        for _ in range(61)
    }
    assert statuses == {404}  # never 429: that would tell the session exists
    assert api.post(url, {"message": "mine"}, format="json", **bearer(user)).status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_websocket_gets_rate_limited_with_retry_after(user):
    session = await sync_to_async(session_create)(actor=user)
    await sync_to_async(wait_for_a_fresh_window)(session.pk)
    await sync_to_async(fill)(user, session, 60)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    await ws.connect()
    await ws.send_json_to(
        {
            "event": "chat:message",
            "data": {"sessionId": str(session.pk), "content": "too many", "clientMessageId": "c61"},
        }
    )
    answer = await ws.receive_json_from(timeout=5)
    assert answer["event"] == "error"
    assert answer["data"]["code"] == "rate_limited" and answer["data"]["retryable"] is True
    assert 1 <= answer["data"]["retryAfter"] <= 60
    assert answer["data"]["clientMessageId"] == "c61"
    await ws.disconnect()
    assert not await sync_to_async(ChatMessage.objects.filter(content="too many").exists)()


# A limit of its own for the live servers (CHAT_MESSAGE_RATE), far lower than the default and
# counted per hour: 7 real turns, however slow, all land in one window but for a window edge
# falling right among them, which the test detects and starts over from (no deadline).
SHARED_LIMIT = 6
SHARED_RATE = f"{SHARED_LIMIT}/h"


def window_end(session_id, rate: str = SHARED_RATE) -> int:
    """When the fixed window now counting `session_id`'s messages ends (epoch seconds, +-1 s)."""
    return int(time.time()) + seconds_left_in_message_window(session_id, rate)


@pytest.mark.django_db(transaction=True)
def test_the_limit_is_shared_by_two_instances(user):
    env = live_env(CHAT_MESSAGE_RATE=SHARED_RATE)  # one env: both count in the same keys
    servers = [LiveServer(env), LiveServer(env)]
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    try:
        for server in servers:
            server.start()
        for _attempt in range(3):
            session = session_create(actor=user)
            started_in = window_end(session.pk)
            with httpx.Client(timeout=60) as http:
                # Alternating: each instance alone has seen at most 4 of the 7 messages.
                answers = [
                    http.post(
                        f"{servers[i % 2].url}/api/sessions/{session.pk}/messages",
                        json={"message": f"hello {i}"},
                        headers=headers,
                    )
                    for i in range(SHARED_LIMIT + 1)
                ]
            # Windows are an hour apart: a different end means the count started over.
            if abs(window_end(session.pk) - started_in) < 60:
                break
    finally:
        for server in servers:
            server.stop()
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * SHARED_LIMIT + [429]
    refused = answers[-1].json()["error"]
    assert refused["code"] == "rate_limited" and refused["details"]["limit"] == SHARED_LIMIT
    stored = ChatMessage.objects.filter(session=session, direction="incoming").count()
    assert stored == SHARED_LIMIT


@pytest.mark.usefixtures("rate_limit_clock_stopped")
def test_login_attempts_are_limited_per_username(api, user):
    statuses = [
        api.post(
            "/auth/login", {"username": "alice", "password": "wrong"}, format="json"
        ).status_code
        for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    blocked = api.post(
        "/auth/login", {"username": "alice", "password": "alice-pass-123"}, format="json"
    )
    assert blocked.status_code == 429 and "Retry-After" in blocked


@pytest.mark.usefixtures("rate_limit_clock_stopped")
def test_a_spoofed_forwarded_for_does_not_reset_the_login_limit(api, user):
    statuses = [
        api.post(
            "/auth/login",
            {"username": f"user{i}", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(31)
    ]
    assert statuses == [401] * 30 + [429]


@pytest.mark.usefixtures("rate_limit_clock_stopped")
def test_behind_a_trusted_proxy_the_forwarded_address_counts(api, user, settings):
    from chatbackend import net

    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    net._trusted_networks.cache_clear()
    try:
        statuses = [
            api.post(
                "/auth/login",
                {"username": f"user{i}", "password": "wrong"},
                format="json",
                HTTP_X_FORWARDED_FOR=f"198.51.100.7, 203.0.113.{i % 2}",
                REMOTE_ADDR="127.0.0.1",
            ).status_code
            for i in range(40)
        ]
    finally:
        settings.TRUSTED_PROXIES = []
        net._trusted_networks.cache_clear()
    # Two real clients behind the proxy, 20 attempts each: neither reaches 30.
    assert statuses == [401] * 40


@pytest.mark.usefixtures("rate_limit_clock_stopped")
def test_the_admin_login_form_is_limited_like_the_api(client, staff_user):
    # Staff accounts can act on every session: the admin's form must not be an unlimited oracle.
    attempt = {"username": "carol", "password": "wrong", "next": "/admin/"}
    statuses = [client.post("/admin/login/", attempt).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [429]  # the form comes back with an error, then no more
    right = client.post("/admin/login/", {**attempt, "password": "carol-pass-123"})
    assert right.status_code == 429 and "Retry-After" in right
    assert right.json()["error"]["code"] == "rate_limited"
