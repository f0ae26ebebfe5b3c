"""Joining a session's fan-out group, in-process: what a client is told when the channel layer
refuses a join."""

from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from messaging_app.socketio import connection, handlers
from messaging_app.socketio.connection import Connection
from sessions_app.services import session_create

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
