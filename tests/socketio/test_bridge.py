"""One fan-out for both transports: a message sent over /ws/chat/ reaches a Socket.IO client
joined to the session, and the other way round, with each socket on a different instance."""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import sync_to_async

from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.socketio.conftest import EVENT_TIMEOUT_SECONDS, dumps, token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def next_frame(ws, name: str, timeout: float = EVENT_TIMEOUT_SECONDS) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["event"] == name:
                return frame["data"]


def native_url(server, token: str) -> str:
    return server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"


async def test_a_native_websocket_message_reaches_a_socketio_client(user, chat_servers, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    token = await token_for(user)
    watcher = await sio_client(chat_servers[1].url, token=token)
    joined = await watcher.call("session:join", {"sessionId": session_id})
    assert joined["joined"] is True and joined["session"]["sessionId"] == session_id

    async with websockets.connect(native_url(chat_servers[0], token)) as native:
        await native.send(dumps("chat:message", {"sessionId": session_id, "content": "from ws"}))
        ack = await next_frame(native, "chat:ack")

    first = await watcher.next("chat:message")
    second = await watcher.next("chat:message")
    assert set(first) == {"sessionId", "message"} and first["sessionId"] == session_id
    assert first["message"]["content"] == "from ws"
    assert first["message"]["message_id"] == ack["messageId"]
    assert first["message"]["session_id"] == session_id
    assert (first["message"]["sequence_number"], first["message"]["direction"]) == (1, "incoming")
    assert second["message"]["sequence_number"] == 2
    assert second["message"]["direction"] == "outgoing"


async def test_a_socketio_message_reaches_a_native_websocket(user, chat_servers, sio_client):
    session = await sync_to_async(session_create)(actor=user)
    session_id = str(session.pk)
    token = await token_for(user)
    sender = await sio_client(chat_servers[1].url, token=token)

    async with websockets.connect(native_url(chat_servers[0], token)) as native:
        await native.send(dumps("session:join", {"sessionId": session_id}))
        assert (await next_frame(native, "session:updated"))["joined"] is True

        await sender.emit("sendMessage", {"sessionId": session_id, "message": "from socket.io"})
        received = await sender.next("messageReceived")
        incoming = await next_frame(native, "chat:message")
        reply = await next_frame(native, "chat:message")

        await sender.emit("typing", {"sessionId": session_id})
        typing = await next_frame(native, "chat:typing")

    assert incoming["message"]["message_id"] == received["message"]["message_id"]
    assert incoming["message"]["content"] == "from socket.io"
    assert reply["message"]["sequence_number"] == 2
    assert typing == {"sessionId": session_id, "userId": "alice", "isTyping": True}
    # The sender has its direct answer; the fan-out skips it rather than repeat the messages.
    assert (await sender.next("newMessage"))["message"]["message_id"] == reply["message"][
        "message_id"
    ]
    assert await sender.nothing_more("newMessage", "chat:message")
    assert await sync_to_async(ChatMessage.objects.filter(session_id=session_id).count)() == 2
