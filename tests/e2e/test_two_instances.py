"""Two real server processes sharing PostgreSQL and Redis: a message sent to one instance
reaches a socket held by the other."""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from sessions_app.services import session_create
from tests.support import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_servers():
    db = settings.DATABASES["default"]
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
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
