"""A client that disconnects between send and ack: its message is stored once or not at all,
and resending it with the same clientMessageId never duplicates it."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.conftest import echo_responder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def storage_only(monkeypatch):
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: echo_responder)


async def open_socket(token):
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    assert (await ws.connect())[0]
    return ws


@pytest.mark.parametrize("wait_before_leaving", [0.0, 0.001, 0.005, 0.02, 0.1])
async def test_disconnect_between_send_and_ack(user, wait_before_leaving):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    frame = {
        "event": "chat:message",
        "data": {
            "sessionId": str(session.pk),
            "content": "are you there?",
            "clientMessageId": "flaky-1",
        },
    }

    ws = await open_socket(token)
    await ws.send_to(text_data=json.dumps(frame))
    await asyncio.sleep(wait_before_leaving)
    await ws.disconnect()

    def stored_count() -> int:
        return ChatMessage.objects.filter(
            session_id=session.pk, client_message_id="flaky-1"
        ).count()

    assert await sync_to_async(stored_count)() in {0, 1}

    # The client comes back and resends the same message.
    ws = await open_socket(token)
    await ws.send_to(text_data=json.dumps(frame))
    ack = json.loads(await ws.receive_from(timeout=5))
    assert ack["event"] == "chat:ack"
    response = json.loads(await ws.receive_from(timeout=5))
    assert response["event"] == "chat:response"
    await ws.disconnect()

    assert await sync_to_async(stored_count)() == 1
    rows = await sync_to_async(
        lambda: list(
            ChatMessage.objects.filter(session_id=session.pk).values_list(
                "sequence_number", flat=True
            )
        )
    )()
    assert sorted(rows) == [1, 2]  # one user message, one reply, no gap, no duplicate
