"""Two real server processes sharing PostgreSQL and Redis: a message sent to one instance
reaches a socket held by the other."""

import asyncio
import json
import signal

import pytest
import websockets
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.support import LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    env = live_env()
    servers = [LiveServer(env).start(), LiveServer(env).start()]
    yield servers
    for server in servers:
        server.stop()


async def next_event(ws, name: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["event"] == name:
                return frame["data"]


async def test_a_message_sent_on_one_instance_reaches_a_socket_on_the_other(user, two_servers):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    first, second = (
        s.url.replace("http://", "ws://") + f"/ws/chat/?token={token}" for s in two_servers
    )

    async with websockets.connect(first) as sender, websockets.connect(second) as watcher:
        await watcher.send(
            json.dumps({"event": "session:join", "data": {"sessionId": str(session.pk)}})
        )
        assert (await next_event(watcher, "session:updated"))["joined"] is True

        await sender.send(
            json.dumps(
                {
                    "event": "chat:message",
                    "data": {"sessionId": str(session.pk), "content": "hello there"},
                }
            )
        )
        ack = await next_event(sender, "chat:ack")
        assert ack["sequenceNumber"] == 1

        incoming = await next_event(watcher, "chat:message")
        reply = await next_event(watcher, "chat:message")
        assert incoming["message"]["content"] == "hello there"
        assert incoming["message"]["sequence_number"] == 1
        assert reply["message"]["sequence_number"] == 2
        assert reply["message"]["direction"] == "outgoing"
        assert reply["message"]["message_id"] == ack["responseMessageId"]


# daphne cannot send 1001 (autobahn only lets servers close with 1000 or 3000-4999), so the
# graceful close is proven on uvicorn; docs/websocket.md says what daphne does instead.
async def test_sigterm_closes_sockets_with_1001_and_loses_no_acknowledged_message(user):
    session = await sync_to_async(session_create)(actor=user)
    warm_up = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    server = LiveServer(
        live_env(),
        server="uvicorn",
    ).start()
    acked, retry = [], []
    try:
        url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"
        async with websockets.connect(url) as ws:
            # One turn first, so the drain below waits on turns, not on the NLU model loading
            # (lazily, on a first turn), which a slow machine could take most of its limit for.
            frame = {"sessionId": str(warm_up.pk), "content": "hello"}
            await ws.send(json.dumps({"event": "chat:message", "data": frame}))
            await next_event(ws, "chat:ack", timeout=60)
            for n in range(5):
                frame = {
                    "sessionId": str(session.pk),
                    "content": f"message {n}",
                    "clientMessageId": f"m{n}",
                }
                await ws.send(json.dumps({"event": "chat:message", "data": frame}))
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(15):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame["event"] == "chat:ack":
                            acked.append(frame["data"]["clientMessageId"])
                        elif frame["event"] == "error":
                            assert frame["data"]["retryable"] is True
                            retry.append(frame["data"]["code"])
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert await asyncio.to_thread(server.process.wait, 15) is not None
    finally:
        server.stop()
    stored = await sync_to_async(
        lambda: sorted(
            ChatMessage.objects.filter(session_id=session.pk, direction="incoming").values_list(
                "client_message_id", flat=True
            )
        )
    )()
    # Every acknowledged message is stored, and nothing unacknowledged was stored.
    assert stored == sorted(acked)
    assert len(acked) + len(retry) == 5
