"""A client that disconnects while its message is being answered: the turn it started still
completes and is stored whole (message and reply, never one without the other), and resending
it with the same clientMessageId gets that turn back instead of a duplicate."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.conftest import echo_responder

pytestmark = pytest.mark.django_db(transaction=True)


class HeldResponder:
    """Answers like echo_responder, but only once the test lets it: the turn is in progress,
    inside its transaction, for as long as the test wants."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def __call__(self, **turn):
        self.entered.set()
        if not self.release.wait(timeout=10):
            raise TimeoutError("the test never released the turn")
        return echo_responder(**turn)


@pytest.fixture
def held(monkeypatch):
    responder = HeldResponder()
    monkeypatch.setattr("messaging_app.services.default_responder", lambda: responder)
    yield responder
    responder.release.set()


async def open_socket(token):
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    assert (await ws.connect())[0]
    return ws


async def stored_turn(session_id) -> list[int]:
    return await sync_to_async(
        lambda: sorted(
            ChatMessage.objects.filter(session_id=session_id).values_list(
                "sequence_number", flat=True
            )
        )
    )()


async def test_a_turn_the_client_left_during_is_stored_once_and_replays(user, held):
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
    assert await asyncio.to_thread(held.entered.wait, 5), "the turn never started"
    # The client goes while the turn is inside its transaction; the test client then gives
    # up on the application (cancels it), as a dropped connection would.
    await ws.disconnect(timeout=0.2)
    held.release.set()

    # The turn finishes in its thread all the same: both rows or neither, never half.
    for _ in range(100):
        if await stored_turn(session.pk):
            break
        await asyncio.sleep(0.05)
    assert await stored_turn(session.pk) == [1, 2]

    # The client comes back and resends the same message: it gets the stored turn back.
    ws = await open_socket(token)
    await ws.send_to(text_data=json.dumps(frame))
    ack = json.loads(await ws.receive_from(timeout=5))
    assert ack["event"] == "chat:ack"
    assert ack["data"]["sequenceNumber"] == 1 and ack["data"]["replayed"] is True
    response = json.loads(await ws.receive_from(timeout=5))
    assert response["event"] == "chat:response"
    assert response["data"]["response"]["content"] == "echo: are you there?"
    await ws.disconnect()

    assert await stored_turn(session.pk) == [1, 2]  # one message, one reply, no duplicate
