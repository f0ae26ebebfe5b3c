"""The original service's Socket.IO events (createSession, joinSession, sendMessage, typing,
stopTyping, endSession, ping, authenticate), against the real application on a live server."""

import asyncio
from datetime import timedelta

import httpx
import pytest
import socketio
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.models import ChatSession
from sessions_app.services import session_create
from tests.conftest import echo_responder
from tests.socketio.conftest import (
    AUTH_TIMEOUT_SECONDS,
    MESSAGE_RATE_PER_MINUTE,
    Recorder,
    token_for,
)
from tests.support import LiveServer, seconds_left_in_message_window

pytestmark = pytest.mark.django_db(transaction=True)


async def connected(sio_client, server, user):
    client = await sio_client(server.url, token=await token_for(user))
    await client.next("connected")
    return client


async def wait_disconnected(client: Recorder, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while client.sio.connected:
            await asyncio.sleep(0.05)


# --- sessions ----------------------------------------------------------------------------------
async def test_create_session_opens_one_for_the_caller(user, chat_server, sio_client):
    client = await connected(sio_client, chat_server, user)
    await client.emit("createSession", {"metadata": {"channel": "web"}})
    created = await client.next("sessionCreated")

    assert created["session"]["sessionId"] == created["sessionId"]
    assert created["session"]["status"] == "active" and created["session"]["userId"] == "alice"
    stored = await sync_to_async(ChatSession.objects.get)(pk=created["sessionId"])
    assert stored.user_id == "alice" and stored.metadata == {"channel": "web"}


async def test_only_staff_create_a_session_for_someone_else(user, chat_server, sio_client):
    client = await connected(sio_client, chat_server, user)
    answer = await client.call("createSession", {"userId": "bob"})
    assert answer["error"]["code"] == "forbidden"
    assert (await client.next("error"))["code"] == "forbidden"
    assert not await sync_to_async(ChatSession.objects.exists)()


async def test_join_session_returns_the_session_and_its_history(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    await sync_to_async(message_send)(
        actor=user, session_id=session.pk, content="earlier", responder=echo_responder
    )
    client = await connected(sio_client, chat_server, user)
    await client.emit("joinSession", {"sessionId": str(session.pk)})
    joined = await client.next("sessionJoined")

    assert joined["sessionId"] == str(session.pk)
    assert joined["session"]["messageCount"] == 2
    assert [(m["sequence_number"], m["content"]) for m in joined["history"]] == [
        (1, "earlier"),
        (2, "echo: earlier"),
    ]


async def test_a_bare_session_id_is_accepted(user, chat_server, sio_client):
    """The original's frontends emit `joinSession` with the id itself, not an object."""
    session = await sync_to_async(session_create)(actor=user)
    client = await connected(sio_client, chat_server, user)
    joined = await client.call("joinSession", str(session.pk))
    assert joined["sessionId"] == str(session.pk)


# --- messages ----------------------------------------------------------------------------------
async def test_send_message_answers_the_sender_and_reaches_other_sockets(
    user, chat_server, sio_client
):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    sender = await connected(sio_client, chat_server, user)
    watcher = await connected(sio_client, chat_server, user)
    await watcher.emit("joinSession", {"sessionId": session_id})
    await watcher.next("sessionJoined")

    await sender.emit(
        "sendMessage",
        {"sessionId": session_id, "message": "What is my balance?", "clientMessageId": "m-1"},
    )
    received = await sender.next("messageReceived")
    answer = await sender.next("newMessage")

    assert received["sessionId"] == session_id and received["clientMessageId"] == "m-1"
    assert received["replayed"] is False
    assert received["message"]["direction"] == "incoming"
    assert received["message"]["sequence_number"] == 1
    assert answer["message"]["direction"] == "outgoing"
    assert answer["message"]["parent_message_id"] == received["message"]["message_id"]
    assert answer["agent"]["agentsInvolved"]

    seen = [await watcher.next("newMessage"), await watcher.next("newMessage")]
    assert [m["message"]["message_id"] for m in seen] == [
        received["message"]["message_id"],
        answer["message"]["message_id"],
    ]
    # Joined in the original's vocabulary: no second copy under the contract's names.
    assert await watcher.nothing_more("chat:message")
    assert await sender.nothing_more("newMessage")
    stored = await sync_to_async(list)(
        ChatMessage.objects.filter(session_id=session_id)
        .order_by("sequence_number")
        .values_list("direction", "client_message_id")
    )
    assert stored == [("incoming", "m-1"), ("outgoing", None)]


async def test_resending_a_client_message_id_stores_nothing_new(user, chat_server, sio_client):
    client = await connected(sio_client, chat_server, user)
    first = await client.call("sendMessage", {"message": "hi", "clientMessageId": "dup"})
    again = await client.call(
        "sendMessage", {"sessionId": first["sessionId"], "message": "hi", "clientMessageId": "dup"}
    )
    assert again["message"]["message_id"] == first["message"]["message_id"]
    assert (await client.next("messageReceived"))["replayed"] is False
    assert (await client.next("messageReceived"))["replayed"] is True
    count = ChatMessage.objects.filter(session_id=first["sessionId"]).count
    assert await sync_to_async(count)() == 2


async def test_chat_history_pages_after_a_sequence_number(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    for text in ("a", "b"):
        await sync_to_async(message_send)(
            actor=user, session_id=session.pk, content=text, responder=echo_responder
        )
    client = await connected(sio_client, chat_server, user)
    await client.emit("chat:history", {"sessionId": str(session.pk), "afterSeq": 2})
    history = await client.next("chat:history")
    assert [m["content"] for m in history["messages"]] == ["b", "echo: b"]
    assert history["hasMore"] is False


async def test_the_per_session_rate_limit_is_an_error_with_retry_after(
    user, chat_server, sio_client
):
    # A session whose one-minute window has long enough to run: the server's count must not
    # start over among the six sends (window edges fall at a second of each session's own).
    session = await sync_to_async(session_create)(actor=user)
    while await sync_to_async(seconds_left_in_message_window)(session.pk) < 20:
        session = await sync_to_async(session_create)(actor=user)
    client = await connected(sio_client, chat_server, user)
    for n in range(MESSAGE_RATE_PER_MINUTE):
        answer = await client.call("sendMessage", {"sessionId": str(session.pk), "message": f"{n}"})
        assert "error" not in answer
    refused = await client.call(
        "sendMessage",
        {"sessionId": str(session.pk), "message": "one too many", "clientMessageId": "x"},
    )
    error = await client.next("error")
    assert refused == {"error": error}
    assert error["code"] == "rate_limited" and error["retryable"] is True
    assert error["clientMessageId"] == "x"
    assert 1 <= error["retryAfter"] == error["details"]["retryAfter"] <= 60
    sent = ChatMessage.objects.filter(session_id=session.pk, direction="incoming")
    assert await sync_to_async(sent.count)() == MESSAGE_RATE_PER_MINUTE  # the refused one: no trace


# --- typing ------------------------------------------------------------------------------------
async def test_typing_and_stop_typing_reach_other_sockets(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    typist = await connected(sio_client, chat_server, user)
    watcher = await connected(sio_client, chat_server, user)
    for client in (typist, watcher):
        await client.call("joinSession", {"sessionId": session_id})

    await typist.emit("typing", {"sessionId": session_id})
    assert await watcher.next("userTyping") == {"sessionId": session_id, "userId": "alice"}
    await typist.emit("stopTyping", {"sessionId": session_id})
    assert await watcher.next("userStoppedTyping") == {"sessionId": session_id, "userId": "alice"}

    assert await typist.nothing_more("userTyping", "userStoppedTyping", "chat:typing")
    assert not await sync_to_async(ChatMessage.objects.exists)()


async def test_typing_needs_a_joined_session(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    client = await connected(sio_client, chat_server, user)
    answer = await client.call("typing", {"sessionId": str(session.pk)})
    assert answer["error"]["code"] == "not_joined"


async def test_a_typist_who_disconnects_stops_typing(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    typist = await connected(sio_client, chat_server, user)
    watcher = await connected(sio_client, chat_server, user)
    for client in (typist, watcher):
        await client.call("joinSession", {"sessionId": session_id})
    await typist.emit("typing", {"sessionId": session_id})
    await watcher.next("userTyping")
    await typist.close()
    assert await watcher.next("userStoppedTyping") == {"sessionId": session_id, "userId": "alice"}


# --- ending ------------------------------------------------------------------------------------
async def test_end_session_terminates_it_and_tells_every_socket_once(user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    ender = await connected(sio_client, chat_server, user)
    watcher = await connected(sio_client, chat_server, user)
    for client in (ender, watcher):
        await client.call("joinSession", {"sessionId": session_id})

    await ender.emit("endSession", {"sessionId": session_id, "reason": "customer_left"})
    ended = await ender.next("sessionEnded")
    assert ended["sessionId"] == session_id and ended["reason"] == "customer_left"
    assert ended["session"]["status"] == "terminated" and ended["session"]["isActive"] is False
    watched = await watcher.next("sessionEnded")
    assert watched["session"]["status"] == "terminated"
    assert (await watcher.next("session:updated"))["session"]["status"] == "terminated"

    stored = await sync_to_async(ChatSession.objects.get)(pk=session_id)
    assert stored.status == "terminated" and stored.is_active is False
    assert stored.ended_reason == "customer_left" and stored.ended_at is not None
    # The direct answer and the fan-out of the same change are one notice, not two.
    assert await ender.nothing_more("sessionEnded")
    assert await watcher.nothing_more("sessionEnded")

    again = await ender.call("endSession", {"sessionId": session_id})
    assert again["error"]["code"] == "session_closed"


# --- ping, authentication, bad input -----------------------------------------------------------
async def test_ping_gets_pong(user, chat_server, sio_client):
    client = await connected(sio_client, chat_server, user)
    await client.emit("ping", {"ts": 1234})
    pong = await client.next("pong")
    assert pong["ts"] == 1234 and pong["timestamp"]


async def test_another_users_session_is_refused(user, other_user, chat_server, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    intruder = await connected(sio_client, chat_server, other_user)
    for event, data in [
        ("joinSession", {"sessionId": session_id}),
        ("sendMessage", {"sessionId": session_id, "message": "let me in"}),
        ("endSession", {"sessionId": session_id}),
        ("session:join", {"sessionId": session_id}),
        ("chat:message", {"sessionId": session_id, "content": "let me in"}),
        ("chat:history", {"sessionId": session_id}),
    ]:
        await intruder.emit(event, data)
        error = await intruder.next("error")
        assert error["code"] == "session_not_found", event
    await intruder.emit("typing", {"sessionId": session_id})
    assert (await intruder.next("error"))["code"] == "not_joined"

    stored = await sync_to_async(ChatSession.objects.get)(pk=session_id)
    assert stored.status == "active" and stored.message_count == 0
    assert not await sync_to_async(ChatMessage.objects.exists)()


async def test_a_connection_without_token_authenticates_with_an_event(
    user, chat_server, sio_client
):
    client = await sio_client(chat_server.url)
    assert (await client.call("ping", {}))["error"]["code"] == "unauthenticated"
    identity = await client.call("authenticate", {"token": await token_for(user)})
    assert identity == {"userId": "alice", "authenticated": True}
    assert await client.next("connected") == identity
    assert "ts" in await client.call("ping", {"ts": 1})


async def test_a_connection_that_never_authenticates_is_closed(chat_server, sio_client):
    client = await sio_client(chat_server.url)
    assert (await client.next("error", timeout=AUTH_TIMEOUT_SECONDS + 10))[
        "code"
    ] == "unauthenticated"
    await wait_disconnected(client, timeout=10)


async def test_a_bad_authenticate_event_disconnects(chat_server, sio_client):
    client = await sio_client(chat_server.url)
    await client.emit("authenticate", {"token": "not-a-jwt"})
    assert (await client.next("error"))["code"] == "unauthorized"
    await wait_disconnected(client, timeout=10)


async def test_a_deactivated_users_token_is_refused(user, chat_server):
    token = await token_for(user)
    user.is_active = False
    await sync_to_async(user.save)()
    client = Recorder()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(chat_server.url, token=token)
    finally:
        await client.close()


async def test_the_connection_ends_when_its_token_expires(user, chat_server, sio_client):
    def short_token() -> str:
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(seconds=5))  # time enough to be connected first
        return str(token)

    client = await sio_client(chat_server.url, token=await sync_to_async(short_token)())
    await client.next("connected")
    assert (await client.next("error", timeout=15))["code"] == "token_expired"
    await wait_disconnected(client, timeout=10)


async def test_a_deactivated_account_cannot_send_on_a_connection_it_opened(
    user, chat_server, sio_client
):
    session = await sync_to_async(session_create)(actor=user)
    client = await connected(sio_client, chat_server, user)
    user.is_active = False
    await sync_to_async(user.save)()
    await client.emit("sendMessage", {"sessionId": str(session.pk), "message": "hi"})
    assert (await client.next("error"))["code"] == "unauthorized"
    await wait_disconnected(client, timeout=10)
    assert not await sync_to_async(ChatMessage.objects.exists)()


@pytest.mark.parametrize(
    ("event", "data", "code"),
    [
        ("launch:missiles", {}, "unknown_event"),
        ("sendMessage", 42, "invalid_payload"),
        ("sendMessage", {"message": ""}, "validation_error"),
        ("sendMessage", {"message": "x" * 2001}, "message_too_long"),
        ("sendMessage", {"message": "nul \x00 byte"}, "validation_error"),
        ("sendMessage", {"message": "hi", "clientMessageId": "\ud800"}, "validation_error"),
        # NaN and Infinity are not JSON: echoed back (pong's ts) they would break a browser's
        # JSON.parse, so they are refused wherever they are (1e400 parses as Infinity).
        ("ping", {"ts": float("nan")}, "invalid_payload"),
        ("createSession", {"metadata": {"rate": float("inf")}}, "invalid_payload"),
        ("sendMessage", {"message": "hi", "extra": [{"n": float("-inf")}]}, "invalid_payload"),
        ("createSession", {"metadata": "not an object"}, "validation_error"),
        ("endSession", {"sessionId": "not-a-uuid", "reason": 7}, "validation_error"),
        ("joinSession", {"sessionId": 7}, "session_not_found"),
    ],
)
async def test_bad_input_gets_an_error_and_the_socket_stays_open(
    user, chat_server, sio_client, event, data, code
):
    client = await connected(sio_client, chat_server, user)
    await client.emit(event, data)
    assert (await client.next("error"))["code"] == code
    assert "ts" in await client.call("ping", {"ts": 2})
    assert not await sync_to_async(ChatMessage.objects.exists)()


# --- transport-level policy ---------------------------------------------------------------------
async def test_a_browser_origin_must_be_listed(user, chat_server):
    token = await token_for(user)
    refused = Recorder()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(
                chat_server.url, token=token, headers={"Origin": "https://evil.example"}
            )
    finally:
        await refused.close()
    allowed = Recorder()
    try:
        # The live server runs with the development default: localhost:3006 is listed.
        await allowed.connect(
            chat_server.url, token=token, headers={"Origin": "http://localhost:3006"}
        )
        assert await allowed.next("connected")
    finally:
        await allowed.close()


async def test_socketio_connections_count_in_health(user, chat_server, sio_client):
    async def open_sockets(expected: int) -> int:
        async with httpx.AsyncClient(base_url=chat_server.url) as http:
            for _ in range(150):  # earlier tests' disconnects may still be settling
                count = (await http.get("/health")).json()["websocketConnections"]
                if count == expected:
                    break
                await asyncio.sleep(0.1)
        return count

    assert await open_sockets(0) == 0
    client = await connected(sio_client, chat_server, user)
    assert await open_sockets(1) == 1
    await client.close()
    assert await open_sockets(0) == 0


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_restarting_server_answers_then_closes_the_connection(
    user, chat_server_env, sio_client, transport
):
    """SIGTERM drains Socket.IO like /ws/chat/: what was sent is answered, then the server
    closes the connection (test_js_client checks that socket.io-client then reconnects)."""
    server = LiveServer(chat_server_env).start()
    try:
        client = await sio_client(server.url, token=await token_for(user), transports=[transport])
        await client.next("connected")
        answer = await client.call("sendMessage", {"message": "just before the restart"})
        assert "error" not in answer
        await asyncio.to_thread(server.stop)
        await wait_disconnected(client, timeout=15)
    finally:
        server.stop()
    # A CLOSE from the server ("server disconnect"), not a dropped connection ("transport error").
    assert client.disconnects == [client.sio.reason.SERVER_DISCONNECT]
