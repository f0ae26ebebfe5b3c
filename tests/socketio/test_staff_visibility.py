"""Staff hear a customer's session only while they are staff (and active).

The flag or the account can be taken away while a staff socket sits joined to a customer's
session; from then on it must hear nothing more of it, even if it never sends another event.
"""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from messaging_app.services import message_send
from sessions_app.services import session_create
from tests.conftest import echo_responder
from tests.socketio.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def send(user, session_id, content: str) -> None:
    await sync_to_async(message_send)(
        actor=user, session_id=session_id, content=content, responder=echo_responder
    )


async def update_user(user, **fields) -> None:
    await sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(**fields)


@pytest.fixture
async def watching(user, staff_user, chat_server, sio_client):
    """A staff socket joined to alice's session (in both vocabularies) and to a session of its
    own, whose messages mark how far its fan-out has been delivered."""
    customers = await sync_to_async(session_create)(actor=user)
    own = await sync_to_async(session_create)(actor=staff_user)
    client = await sio_client(chat_server.url, token=await token_for(staff_user))
    await client.next("connected")
    await client.call("joinSession", str(customers.pk))
    await client.call("session:join", {"sessionId": str(customers.pk)})
    await client.call("session:join", {"sessionId": str(own.pk)})
    await send(user, customers.pk, "seen by staff")
    for event in ("chat:message", "chat:message", "newMessage", "newMessage"):
        await client.next(event)  # the message and its reply, in each vocabulary
    return client, str(customers.pk), own


async def heard_before_marker(client, staff_user, own) -> list[str]:
    """The messages the socket hears (in either vocabulary) up to a marker sent in its own
    session: a channel's events are delivered in order, so none can arrive after it."""
    await send(staff_user, own.pk, "marker")
    heard = []
    while (event := await client.next("chat:message"))["message"]["content"] != "marker":
        heard.append(event["message"]["content"])
    return heard + [
        data["message"]["content"] for name, data in client.backlog if name == "newMessage"
    ]


async def test_staff_who_lose_the_flag_stop_hearing_a_customers_session(user, staff_user, watching):
    client, customers_session, own = watching
    await update_user(staff_user, is_staff=False)

    await send(user, customers_session, "not for former staff")

    assert await heard_before_marker(client, staff_user, own) == []
    assert client.sio.connected
    refused = await client.call("session:join", {"sessionId": customers_session})
    assert refused["error"]["code"] == "session_not_found"


async def test_deactivated_staff_are_signed_out_at_the_next_delivery(user, staff_user, watching):
    client, customers_session, _ = watching
    await update_user(staff_user, is_active=False)

    await send(user, customers_session, "not for a deactivated account")

    assert (await client.next("error"))["code"] == "unauthorized"
    async with asyncio.timeout(30):
        while client.sio.connected:
            await asyncio.sleep(0.05)
    assert not [data for name, data in client.backlog if name in ("chat:message", "newMessage")]


async def test_staff_keep_hearing_while_still_staff(user, staff_user, watching):
    client, customers_session, own = watching

    await send(user, customers_session, "still for staff")

    heard = await heard_before_marker(client, staff_user, own)
    assert heard == ["still for staff", "echo: still for staff"] * 2
