"""A client that disconnects while its message is being answered: the turn it started still
completes and is stored whole (message and reply, never one without the other), and resending
it with the same clientMessageId gets that turn back instead of a duplicate."""

import asyncio
import contextlib
import json
import logging
import threading
from datetime import timedelta

import pytest
import uvicorn
import websockets
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend import connections
from chatbackend.asgi import application
from messaging_app.events import session_group
from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.conftest import echo_responder
from tests.support import free_port

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


# --- under uvicorn: sending to a client that has gone ----------------------------------------
# uvicorn raises ClientDisconnected on a send to a socket the client (or the server, at token
# expiry) has closed. These run the real server in this process, so the test can see the
# socket count /health reports and the channel layer's group memberships.


@contextlib.asynccontextmanager
async def uvicorn_serving():
    server = uvicorn.Server(
        uvicorn.Config(application, port=free_port(), lifespan="off", log_config=None)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"ws://127.0.0.1:{server.config.port}/ws/chat/"
    finally:
        server.should_exit = True
        await serving


async def released(before: int) -> bool:
    """Whether the socket count is back to `before`, once the server has had its chance."""
    for _ in range(200):
        if connections.open_sockets() == before:
            return True
        await asyncio.sleep(0.05)
    return False


def group_members(session_id) -> set:
    return set(get_channel_layer()._memberships.get(session_group(session_id), ()))


def short_token(user, seconds: int) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=seconds))
    return str(token)


def turn(session, client_message_id: str) -> str:
    data = {"sessionId": str(session.pk), "content": "hi", "clientMessageId": client_message_id}
    return json.dumps({"event": "chat:message", "data": data})


async def test_a_tab_closed_during_a_turn_is_released(user, held, caplog):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    caplog.set_level(logging.ERROR)
    async with uvicorn_serving() as url:
        before = connections.open_sockets()
        async with websockets.connect(f"{url}?token={token}") as ws:
            await ws.send(turn(session, "left-1"))
            assert await asyncio.to_thread(held.entered.wait, 5), "the turn never started"
        held.release.set()  # the turn ends after the tab has closed: its answer has no socket
        assert await released(before), "the socket is still counted open"
        assert await stored_turn(session.pk) == [1, 2]
        assert group_members(session.pk) == set()
    assert not [r for r in caplog.records if r.name.startswith("messaging_app")]


async def test_a_socket_closed_at_token_expiry_during_a_turn_is_released(user, held, caplog):
    session = await sync_to_async(session_create)(actor=user)
    caplog.set_level(logging.ERROR)
    async with uvicorn_serving() as url:
        before = connections.open_sockets()
        # Minted once the server is up, and not too short: the turn must start before expiry
        # (set_exp truncates to whole seconds, so "4 s" lives 3 to 4 s).
        token = await sync_to_async(short_token)(user, 4)
        async with websockets.connect(f"{url}?token={token}") as ws:
            await ws.send(turn(session, "expiring-1"))
            assert await asyncio.to_thread(held.entered.wait, 5), "the turn never started"
            events = []
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    events.append(json.loads(raw)["data"].get("code"))
            assert events == ["token_expired"] and ws.close_code == 4001
            held.release.set()  # the turn ends on a socket the server has already closed
        assert await released(before), "the socket is still counted open"
        assert await stored_turn(session.pk) == [1, 2]
        assert group_members(session.pk) == set()
    assert not [r for r in caplog.records if r.name.startswith("messaging_app")]


async def test_a_socket_whose_handler_raised_is_released_all_the_same(user, monkeypatch):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    before = connections.open_sockets()
    ws = await open_socket(token)
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    assert json.loads(await ws.receive_from(timeout=5))["event"] == "session:updated"
    assert group_members(session.pk)

    async def transport_bug(handling, *args, **kwargs):
        handling.close()  # never awaited
        raise RuntimeError("a fault outside any handler's error reporting")

    # The exception ends the consumer without a websocket.disconnect for Channels to dispatch.
    monkeypatch.setattr("messaging_app.realtime.reporting_errors", transport_bug)
    await ws.send_json_to({"event": "ping", "data": {}})
    with pytest.raises(RuntimeError):
        await ws.receive_output(timeout=5)
    assert connections.open_sockets() == before
    assert group_members(session.pk) == set()
