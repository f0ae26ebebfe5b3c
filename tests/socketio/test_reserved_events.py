"""Client events named "connect" or "disconnect" are ordinary (unknown) events.

python-socketio hands a client's EVENT packet named like a lifecycle event to the server's
explicit `connect` / `disconnect` handlers; these tests send such packets and check that the
socket keeps its identity, its place in the health count and its fan-out.
"""

import httpx
import pytest
from asgiref.sync import sync_to_async

from messaging_app.services import message_send
from sessions_app.services import session_create
from tests.conftest import echo_responder
from tests.socketio.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def open_sockets(server) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/health")).json()["websocketConnections"]


async def joined_client(sio_client, server, user, session_id: str):
    client = await sio_client(server.url, token=await token_for(user))
    await client.next("connected")
    await client.call("session:join", {"sessionId": session_id})
    return client


async def assert_still_served(client, user, session_id: str) -> None:
    """The socket still answers events, as `user`, and still hears its session."""
    identity = await client.call("authenticate")
    assert identity == {"userId": user.get_username(), "authenticated": True}
    await sync_to_async(message_send)(
        actor=user, session_id=session_id, content="still here?", responder=echo_responder
    )
    heard = await client.next("chat:message")
    assert heard["message"]["content"] == "still here?"


async def test_a_disconnect_event_from_the_client_is_not_a_disconnect(
    user, chat_server, sio_client
):
    session_id = str((await sync_to_async(session_create)(actor=user)).pk)
    client = await joined_client(sio_client, chat_server, user, session_id)
    before = await open_sockets(chat_server)

    answer = await client.call("disconnect")

    assert answer["error"]["code"] == "unknown_event"
    assert client.sio.connected
    assert await open_sockets(chat_server) == before
    await assert_still_served(client, user, session_id)


async def test_a_connect_event_from_the_client_cannot_switch_users(
    user, other_user, chat_server, sio_client
):
    session_id = str((await sync_to_async(session_create)(actor=user)).pk)
    client = await joined_client(sio_client, chat_server, user, session_id)
    before = await open_sockets(chat_server)
    others_session = await sync_to_async(session_create)(actor=other_user)

    # The arguments a genuine connect handler gets: environ, then auth with bob's token.
    answer = await client.sio.call(
        "connect", ({}, {"token": await token_for(other_user)}), timeout=30
    )

    assert answer["error"]["code"] == "unknown_event"
    assert await client.nothing_more("connected")
    refused = await client.call("session:join", {"sessionId": str(others_session.pk)})
    assert refused["error"]["code"] == "session_not_found"
    assert await open_sockets(chat_server) == before
    await assert_still_served(client, user, session_id)
