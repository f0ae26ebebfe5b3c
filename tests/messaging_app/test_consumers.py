"""The chat WebSocket through the real ASGI application (origin check, JWT middleware,
router) with the channel layer on Redis."""

import asyncio
import copy
import json
import math
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.models import ChatSession
from sessions_app.services import session_create, session_resolve
from tests.conftest import echo_responder

pytestmark = pytest.mark.django_db(transaction=True)


def token_for(user) -> str:
    return str(AccessToken.for_user(user))


async def connect(path="/ws/chat/", headers=None, token=None):
    if token is not None:
        path = f"{path}?token={token}"
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect()
    return communicator, connected


async def receive_event(communicator, event=None, timeout=5):
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        if event is None or frame["event"] == event:
            return frame


async def expect_close(communicator, code, timeout=3):
    output = await communicator.receive_output(timeout=timeout)
    while output["type"] != "websocket.close":
        output = await communicator.receive_output(timeout=timeout)
    assert output.get("code") == code


@pytest.fixture
def use_echo(monkeypatch):
    """Storage-focused tests answer with the echo responder instead of the agent pipeline."""
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)


# --- authentication and origin ---------------------------------------------------------------
async def test_it_accepts_a_token_in_the_query_string(user, use_echo):
    ws, connected = await connect(token=token_for(user))
    assert connected
    await ws.send_json_to({"event": "ping", "data": {"ts": 1}})
    assert await receive_event(ws) == {"event": "pong", "data": {"ts": 1}}
    await ws.disconnect()


async def test_it_accepts_an_authorization_header(user):
    ws, connected = await connect(
        headers=[(b"authorization", f"Bearer {token_for(user)}".encode())]
    )
    assert connected
    await ws.send_json_to({"event": "ping", "data": {}})
    assert (await receive_event(ws))["event"] == "pong"
    await ws.disconnect()


async def test_it_accepts_an_auth_frame(user):
    ws, _ = await connect()
    await ws.send_json_to({"event": "auth", "data": {"token": token_for(user)}})
    assert await receive_event(ws) == {"event": "auth:ok", "data": {"userId": "alice"}}
    await ws.send_json_to({"event": "ping", "data": {}})
    assert (await receive_event(ws))["event"] == "pong"
    await ws.disconnect()


async def test_it_closes_4001_without_a_token_after_the_grace_period(user, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    ws, connected = await connect()
    assert connected
    await ws.send_json_to({"event": "ping", "data": {}})
    assert (await receive_event(ws))["data"]["code"] == "unauthenticated"
    await expect_close(ws, 4001)


@pytest.mark.parametrize("kind", ["garbage", "expired", "refresh", "forged"])
async def test_it_closes_4001_on_a_bad_token(user, kind):
    def make_token():
        return {
            "garbage": lambda: "not-a-jwt",
            "expired": lambda: _expired(user),
            "refresh": lambda: str(RefreshToken.for_user(user)),
            "forged": lambda: token_for(user)[:-4] + "AAAA",
        }[kind]()

    ws, _ = await connect(token=await sync_to_async(make_token)())
    await expect_close(ws, 4001)


async def test_it_closes_4001_on_a_bad_auth_frame(user):
    ws, _ = await connect()
    await ws.send_json_to({"event": "auth", "data": {"token": "nope"}})
    await expect_close(ws, 4001)


async def test_it_closes_4001_for_a_deactivated_user(user):
    token = token_for(user)
    user.is_active = False
    await sync_to_async(user.save)()
    ws, _ = await connect(token=token)
    await expect_close(ws, 4001)


def _expired(user) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


async def test_it_refuses_a_cross_origin_handshake(user):
    ws = WebsocketCommunicator(
        application,
        f"/ws/chat/?token={token_for(user)}",
        headers=[(b"origin", b"https://evil.example")],
    )
    connected, _ = await ws.connect()
    assert not connected


async def test_it_allows_the_configured_origin(user):
    ws = WebsocketCommunicator(
        application,
        f"/ws/chat/?token={token_for(user)}",
        headers=[(b"origin", b"http://localhost:3006")],
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.disconnect()


# --- chat -----------------------------------------------------------------------------------
async def test_round_trip_ack_then_response(user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to(
        {
            "event": "chat:message",
            "data": {"sessionId": str(session.pk), "content": "hi", "clientMessageId": "c1"},
        }
    )
    ack = await receive_event(ws)
    assert ack["event"] == "chat:ack"
    assert ack["data"]["sequenceNumber"] == 1 and ack["data"]["responseSequenceNumber"] == 2
    assert ack["data"]["clientMessageId"] == "c1"
    response = await receive_event(ws)
    assert response["event"] == "chat:response"
    assert response["data"]["response"]["content"] == "echo: hi"
    assert response["data"]["sessionId"] == str(session.pk)
    assert await sync_to_async(ChatMessage.objects.filter(session_id=session.pk).count)() == 2
    await ws.disconnect()


async def test_a_message_without_session_opens_one(user, use_echo):
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "chat:message", "data": {"content": "hello"}})
    ack = await receive_event(ws, "chat:ack")
    session = await sync_to_async(ChatSession.objects.get)(pk=ack["data"]["sessionId"])
    assert session.user_id == "alice" and session.message_count == 2
    await ws.disconnect()


async def test_another_users_session_is_refused(user, other_user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    ws, _ = await connect(token=token_for(other_user))
    for event in ("chat:message", "session:join", "chat:history"):
        await ws.send_json_to(
            {"event": event, "data": {"sessionId": str(session.pk), "content": "x"}}
        )
        error = await receive_event(ws)
        assert error["event"] == "error" and error["data"]["code"] == "session_not_found"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await ws.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2, 3]", "invalid_frame"),
        ('"just a string"', "invalid_frame"),
        ('{"data": {}}', "invalid_frame"),
        ('{"event": "chat:message", "data": []}', "invalid_frame"),
        ('{"event": "launch:missiles", "data": {}}', "unknown_event"),
        ('{"event": "chat:message", "data": {"content": 42}}', "validation_error"),
        ('{"event": "chat:message", "data": {"content": ""}}', "validation_error"),
        (
            '{"event": "chat:message", "data": {"content": "x", "sessionId": 7}}',
            "session_not_found",
        ),
        ('{"event": "chat:history", "data": {"sessionId": "nope"}}', "session_not_found"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
        # Python's json takes these, JSON does not (and a pong echoing one would not be JSON).
        ('{"event": "ping", "data": {"ts": NaN}}', "invalid_json"),
        ('{"event": "ping", "data": {"ts": -Infinity}}', "invalid_json"),
        ('{"event": "ping", "data": {"ts": 1e400}}', "invalid_json"),  # decodes as Infinity
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_stays_open(user, use_echo, frame, code):
    ws, _ = await connect(token=token_for(user))
    await ws.send_to(text_data=frame)
    error = await receive_event(ws)
    assert error["event"] == "error" and error["data"]["code"] == code
    await ws.send_json_to({"event": "ping", "data": {}})
    assert (await receive_event(ws))["event"] == "pong"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await ws.disconnect()


async def test_a_value_json_cannot_carry_is_never_sent(user, monkeypatch):
    monkeypatch.setattr(
        "messaging_app.realtime.history", lambda user, data: {"sessionId": "s", "score": math.nan}
    )
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "chat:history", "data": {"sessionId": "s"}})
    raw = await ws.receive_from(timeout=5)
    frame = json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} sent"))
    assert frame["event"] == "error" and frame["data"]["code"] == "internal_error"
    await ws.disconnect()


async def test_binary_and_oversized_frames_are_refused(user, use_echo):
    ws, _ = await connect(token=token_for(user))
    await ws.send_to(bytes_data=b"\x00\x01")
    assert (await receive_event(ws))["data"]["code"] == "binary_not_supported"
    await ws.send_to(
        text_data=json.dumps({"event": "chat:message", "data": {"content": "x" * 20000}})
    )
    assert (await receive_event(ws))["data"]["code"] == "frame_too_large"
    # The limit is in bytes: 5,000 emoji are 5,000 characters but 20,000 bytes of UTF-8.
    await ws.send_to(
        text_data=json.dumps(
            {"event": "chat:message", "data": {"content": "\U0001f600" * 5000}},
            ensure_ascii=False,
        )
    )
    assert (await receive_event(ws))["data"]["code"] == "frame_too_large"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await ws.disconnect()


async def test_fan_out_to_a_second_socket(user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    sender, _ = await connect(token=token_for(user))
    watcher, _ = await connect(token=token_for(user))
    await watcher.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    joined = await receive_event(watcher)
    assert joined["event"] == "session:updated" and joined["data"]["joined"] is True

    await sender.send_json_to(
        {"event": "chat:message", "data": {"sessionId": str(session.pk), "content": "hey"}}
    )
    first = await receive_event(watcher, "chat:message")
    second = await receive_event(watcher, "chat:message")
    assert [
        first["data"]["message"]["sequence_number"],
        second["data"]["message"]["sequence_number"],
    ] == [1, 2]
    assert second["data"]["message"]["content"] == "echo: hey"
    # The sender gets ack + response, not its own messages again.
    assert (await receive_event(sender))["event"] == "chat:ack"
    assert (await receive_event(sender))["event"] == "chat:response"
    assert await sender.receive_nothing(timeout=0.3)
    await sender.disconnect()
    await watcher.disconnect()


async def test_a_rest_message_is_pushed_to_the_socket(user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    await receive_event(ws, "session:updated")
    await sync_to_async(message_send)(
        actor=user, session_id=session.pk, content="from rest", responder=echo_responder
    )
    pushed = await receive_event(ws, "chat:message")
    assert pushed["data"]["message"]["content"] == "from rest"
    await ws.disconnect()


async def test_status_changes_are_pushed_as_session_updated(user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    await receive_event(ws, "session:updated")
    await sync_to_async(session_resolve)(actor=user, session_id=session.pk, notes="done")
    update = await receive_event(ws, "session:updated")
    assert update["data"]["session"]["status"] == "resolved"
    await ws.disconnect()


async def test_a_change_made_while_joining_is_not_lost(user, use_echo, monkeypatch):
    # The session is resolved after the join read it and before the socket is in its group:
    # the event goes to nobody, so the join's own reply must carry the change.
    from messaging_app.consumers import ChatConsumer

    session = await sync_to_async(session_create)(actor=user)
    joining = ChatConsumer.join

    async def join_after_a_change(consumer, session_id):
        await sync_to_async(session_resolve)(actor=user, session_id=session_id, notes="done")
        return await joining(consumer, session_id)

    monkeypatch.setattr(ChatConsumer, "join", join_after_a_change)
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    joined = await receive_event(ws, "session:updated")
    assert joined["data"]["joined"] is True
    assert joined["data"]["session"]["status"] == "resolved"
    await ws.disconnect()


async def test_a_join_whose_second_read_is_refused_leaves_the_session(user, use_echo, monkeypatch):
    # Refused once the socket is in the group (the staff flag went, say): not joined after all.
    from messaging_app import realtime
    from tests.support import refused_after_the_first_call

    session = await sync_to_async(session_create)(actor=user)
    monkeypatch.setattr(realtime, "join", refused_after_the_first_call(realtime.join))
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    assert (await receive_event(ws, "error"))["data"]["code"] == "forbidden"
    typing = {"sessionId": str(session.pk), "isTyping": True}
    await ws.send_json_to({"event": "chat:typing", "data": typing})
    assert (await receive_event(ws, "error"))["data"]["code"] == "not_joined"
    await ws.disconnect()


async def test_history_catch_up_after_seq(user, use_echo):
    session = await sync_to_async(session_create)(actor=user)
    for text in ("a", "b", "c"):
        await sync_to_async(message_send)(
            actor=user, session_id=session.pk, content=text, responder=echo_responder
        )
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to(
        {"event": "chat:history", "data": {"sessionId": str(session.pk), "afterSeq": 4}}
    )
    history = await receive_event(ws, "chat:history")
    assert [m["sequence_number"] for m in history["data"]["messages"]] == [5, 6]
    assert history["data"]["hasMore"] is False
    await ws.disconnect()


async def typing_in_a_session(user):
    """A session, two of its user's sockets joined to it, and the first one typing."""
    session = await sync_to_async(session_create)(actor=user)
    typist, _ = await connect(token=token_for(user))
    watcher, _ = await connect(token=token_for(user))
    for ws in (typist, watcher):
        await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
        await receive_event(ws, "session:updated")
    await typist.send_json_to(
        {"event": "chat:typing", "data": {"sessionId": str(session.pk), "isTyping": True}}
    )
    return session, typist, watcher


async def test_typing_reaches_others_and_stops_by_itself(user, settings):
    settings.WS_TYPING_TIMEOUT_SECONDS = 0.3
    session, typist, watcher = await typing_in_a_session(user)
    started = await receive_event(watcher, "chat:typing")
    assert started["data"] == {"sessionId": str(session.pk), "userId": "alice", "isTyping": True}
    stopped = await receive_event(watcher, "chat:typing", timeout=3)
    assert stopped["data"]["isTyping"] is False
    assert await typist.receive_nothing(timeout=0.2)
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await typist.disconnect()
    await watcher.disconnect()


async def test_a_join_the_channel_layer_refused_is_a_retryable_error(user, use_echo, monkeypatch):
    session = await sync_to_async(session_create)(actor=user)
    join = {"event": "session:join", "data": {"sessionId": str(session.pk)}}
    layer = get_channel_layer()

    async def redis_down(group, channel):
        raise ConnectionError("Redis is down")

    ws, _ = await connect(token=token_for(user))
    with monkeypatch.context() as patch:
        patch.setattr(layer, "group_add", redis_down)
        await ws.send_json_to(join)
        refused = await receive_event(ws)
    assert refused["event"] == "error", "claimed joined without a group membership"
    assert refused["data"] | {"message": ""} == {
        "code": "join_failed",  # the same code Socket.IO answers
        "message": "",
        "retryable": True,
        "details": {"sessionId": str(session.pk)},
    }
    # Not counted as joined, so joining again (Redis back) really joins.
    await ws.send_json_to(join)
    assert (await receive_event(ws))["data"]["joined"] is True
    await sync_to_async(message_send)(actor=user, session_id=session.pk, content="from REST")
    assert (await receive_event(ws, "chat:message"))["data"]["message"]["content"] == "from REST"
    await ws.disconnect()


async def test_a_socket_open_longer_than_group_expiry_keeps_receiving(user, use_echo, settings):
    # channels-redis forgets a group member group_expiry seconds after it joined (a day by
    # default): shortened here, as a socket kept open by token renewal would outlive it.
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["group_expiry"] = 1
    settings.CHANNEL_LAYERS = layers
    session = await sync_to_async(session_create)(actor=user)
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    await receive_event(ws, "session:updated")
    await asyncio.sleep(2.5)  # past the join's expiry
    await sync_to_async(message_send)(actor=user, session_id=session.pk, content="still here?")
    pushed = await receive_event(ws, "chat:message")
    assert pushed["data"]["message"]["content"] == "still here?"
    await ws.disconnect()


async def test_a_typist_who_disconnects_stops_typing_for_the_others(user, settings):
    settings.WS_TYPING_TIMEOUT_SECONDS = 600  # so only the disconnect can stop it here
    session, typist, watcher = await typing_in_a_session(user)
    assert (await receive_event(watcher, "chat:typing"))["data"]["isTyping"] is True
    await typist.disconnect()  # the tab closes mid-sentence
    stopped = await receive_event(watcher, "chat:typing")
    assert stopped["data"] == {"sessionId": str(session.pk), "userId": "alice", "isTyping": False}
    await watcher.disconnect()


async def test_typing_needs_a_joined_session(user):
    ws, _ = await connect(token=token_for(user))
    await ws.send_json_to({"event": "chat:typing", "data": {"sessionId": "x", "isTyping": True}})
    assert (await receive_event(ws))["data"]["code"] == "not_joined"
    await ws.disconnect()


async def test_open_sockets_show_in_health(user, client):
    def health_count() -> int:
        try:
            return client.get("/health").json()["websocketConnections"]
        finally:
            connection.close()  # the test client keeps its connection; give it back

    async def open_count() -> int:
        return await sync_to_async(health_count)()

    before = await open_count()
    ws, _ = await connect(token=token_for(user))
    assert await open_count() == before + 1
    await ws.disconnect()
    await asyncio.sleep(0.05)
    assert await open_count() == before
