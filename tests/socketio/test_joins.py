"""A socket's session groups, in-process: what a client is told when the channel layer refuses
a join, and how memberships outlive channels-redis's group_expiry."""

import asyncio
import time
from types import SimpleNamespace
from uuid import uuid4

import channels_redis.core
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chatbackend.auth import SocketLogin
from chatbackend.channel_layer import ResilientRedisChannelLayer
from messaging_app.events import group_refresh_seconds, session_group
from messaging_app.socketio import connection, handlers, server
from messaging_app.socketio.connection import CONTRACT, Connection
from sessions_app.services import session_create, session_resolve

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingSio:
    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    async def emit(self, event, data, to):
        self.sent.append((event, data))


class RefusingLayer:
    """A channel layer whose Redis is down."""

    async def group_add(self, group, channel):
        raise ConnectionError("Redis is down")


def recording_connection(user, channel: str = "specific.test!sio") -> Connection:
    return Connection(SimpleNamespace(sio=RecordingSio()), "sid-1", user=user, channel=channel)


def sent(conn: Connection) -> list[tuple[str, object]]:
    return conn.server.sio.sent


@pytest.mark.parametrize("handler", [handlers.on_session_join, handlers.on_join_session])
async def test_a_join_the_channel_layer_refuses_is_a_retryable_error(user, monkeypatch, handler):
    session_id = str((await sync_to_async(session_create)(actor=user)).pk)
    conn = recording_connection(user)
    monkeypatch.setattr(connection, "get_channel_layer", RefusingLayer)

    refused = await handler(conn, {"sessionId": session_id})

    error = refused["error"]
    assert error["code"] == "join_failed" and error["retryable"] is True
    assert error["details"] == {"sessionId": session_id}
    assert sent(conn) == [("error", error)]  # and no answer saying it joined
    assert conn.joined == {}


async def test_a_session_created_while_joins_fail_is_answered_with_the_error_too(user, monkeypatch):
    conn = recording_connection(user)
    monkeypatch.setattr(connection, "get_channel_layer", RefusingLayer)

    created = await handlers.on_create_session(conn, {})

    assert [event for event, _ in sent(conn)] == ["error", "sessionCreated"]
    assert sent(conn)[0][1]["code"] == "join_failed"
    assert sent(conn)[1][1] == created


@pytest.mark.parametrize(
    "handler, event",
    [(handlers.on_session_join, "session:updated"), (handlers.on_join_session, "sessionJoined")],
)
async def test_a_change_made_while_joining_is_in_the_answer(user, monkeypatch, handler, event):
    # Resolved after the ownership check and before the socket is in the group, whose event
    # then reaches nobody: the answer must be read once joined.
    session_id = str((await sync_to_async(session_create)(actor=user)).pk)
    conn = recording_connection(user)

    class ResolvingFirstLayer:
        async def group_add(self, group, channel):
            await sync_to_async(session_resolve)(actor=user, session_id=session_id)

    monkeypatch.setattr(connection, "get_channel_layer", ResolvingFirstLayer)

    await handler(conn, {"sessionId": session_id})

    [(sent_event, body)] = sent(conn)
    assert sent_event == event and body["session"]["status"] == "resolved"


class AcceptingLayer:
    async def group_add(self, group, channel):
        pass

    async def group_discard(self, group, channel):
        pass


@pytest.mark.parametrize("handler", [handlers.on_session_join, handlers.on_join_session])
async def test_a_join_whose_second_read_fails_leaves_the_session(user, monkeypatch, handler):
    from chatbackend.errors import PermissionDenied
    from messaging_app import realtime
    from tests.support import refused_after_the_first_call

    session_id = str((await sync_to_async(session_create)(actor=user)).pk)
    conn = recording_connection(user)
    monkeypatch.setattr(connection, "get_channel_layer", AcceptingLayer)

    def history_refused(user, data):
        raise PermissionDenied("You may not see this session")

    monkeypatch.setattr(realtime, "join", refused_after_the_first_call(realtime.join))
    monkeypatch.setattr(handlers, "_join_with_history", history_refused)

    with pytest.raises(PermissionDenied):
        await handler(conn, {"sessionId": session_id})
    assert conn.joined == {}


# --- group_expiry ----------------------------------------------------------------------------
class Clock:
    """channels-redis's clock (it scores group members with time.time()), moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
async def layer_and_clock(monkeypatch):
    """The production layer on the test Redis, with a 100 s group_expiry and a hand clock."""
    clock = Clock()
    monkeypatch.setattr(channels_redis.core, "time", clock)
    layer = ResilientRedisChannelLayer(
        hosts=[{"address": settings.REDIS_URL, "socket_timeout": 15}],
        prefix=f"test-groups-{uuid4().hex}",
        group_expiry=100,
    )
    monkeypatch.setattr(connection, "get_channel_layer", lambda: layer)
    yield layer, clock
    await layer.flush()
    await layer.close_pools()


async def test_refreshed_groups_outlive_the_layers_group_expiry(layer_and_clock):
    layer, clock = layer_and_clock
    conn = recording_connection(None, channel=await layer.new_channel())
    never_refreshed = await layer.new_channel()
    assert await conn.join("s-1", CONTRACT)
    await layer.group_add(session_group("s-1"), never_refreshed)

    clock.now += 60
    await conn.refresh_groups()
    clock.now += 60  # 120 s after the joins, 60 s after the refresh; group_expiry is 100 s
    await layer.group_send(session_group("s-1"), {"type": "chat.messages", "n": 1})
    await layer.send(never_refreshed, {"type": "marker"})

    async with asyncio.timeout(10):  # a guard only: both are there already
        assert (await layer.receive(conn.channel))["n"] == 1
        # The group's message never reached the member that was not refreshed.
        assert (await layer.receive(never_refreshed))["type"] == "marker"


async def test_a_connection_keeps_refreshing_its_groups(monkeypatch):
    conn = recording_connection(None)
    refreshed = asyncio.Queue()

    async def refresh_groups():
        refreshed.put_nowait(True)

    monkeypatch.setattr(conn, "refresh_groups", refresh_groups)
    monkeypatch.setattr(connection, "group_refresh_seconds", lambda layer: 0)
    keeping = asyncio.create_task(conn.keep_groups_joined())
    try:
        async with asyncio.timeout(10):  # a guard only
            for _ in range(3):
                await refreshed.get()
    finally:
        keeping.cancel()


async def test_a_signed_in_socket_starts_refreshing_its_groups(user, monkeypatch):
    chat = server.ChatSocketIO()
    started = asyncio.Event()

    async def keep_groups_joined(self):
        started.set()

    async def idle(*args):
        pass

    monkeypatch.setattr(Connection, "keep_groups_joined", keep_groups_joined)
    monkeypatch.setattr(server, "forward_channel_events", idle)
    monkeypatch.setattr(chat, "_greet", idle)
    conn = Connection(chat, "sid-1")
    await chat._authenticated(conn, SocketLogin(user, time.time() + 3600))
    try:
        async with asyncio.timeout(10):  # a guard only
            await started.wait()
    finally:
        for task in [*conn.tasks, conn.token_expiry]:
            task.cancel()


@pytest.mark.parametrize(("group_expiry", "interval"), [(86400, 3600), (600, 150), (None, 3600)])
def test_groups_are_refreshed_hourly_or_at_a_quarter_of_the_group_expiry(group_expiry, interval):
    layer = (
        SimpleNamespace() if group_expiry is None else SimpleNamespace(group_expiry=group_expiry)
    )
    # One rule for both live transports (messaging_app.events).
    assert group_refresh_seconds(layer) == interval
