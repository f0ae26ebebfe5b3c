"""A python-socketio client that never upgrades: long-polling HTTP only, as behind proxies that
refuse WebSocket."""

import pytest
import socketio
from asgiref.sync import sync_to_async

from messaging_app.models import ChatMessage
from tests.socketio.conftest import Recorder, token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_chats_over_long_polling_only(user, chat_server, sio_client):
    client = await sio_client(chat_server.url, token=await token_for(user), transports=["polling"])
    assert await client.next("connected") == {"userId": "alice", "authenticated": True}

    await client.emit("chat:message", {"content": "hello over polling", "clientMessageId": "p-1"})
    ack = await client.next("chat:ack")
    response = await client.next("chat:response")

    assert ack["clientMessageId"] == "p-1" and ack["sequenceNumber"] == 1
    assert response["message"]["content"] == "hello over polling"
    assert response["response"]["message_id"] == ack["responseMessageId"]
    assert response["content"] == response["response"]["content"]
    assert client.sio.transport() == "polling"
    stored = await sync_to_async(list)(
        ChatMessage.objects.filter(session_id=ack["sessionId"]).values_list(
            "sequence_number", "direction"
        )
    )
    assert sorted(stored) == [(1, "incoming"), (2, "outgoing")]


async def test_a_bad_token_is_refused_over_long_polling(chat_server):
    client = Recorder()
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(chat_server.url, token="not-a-jwt", transports=["polling"])
        assert client.refusals == [
            {"message": "Invalid or expired token", "data": {"code": "unauthorized"}}
        ]
        assert not client.sio.connected
    finally:
        await client.close()
