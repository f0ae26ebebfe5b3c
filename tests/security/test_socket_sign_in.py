"""A live socket stays signed in only as long as its token and its account: it is closed when the
token expires (unless renewed by an `auth` frame), and a deactivated account or a staff flag
taken away counts from the socket's next event, as on the next REST request (and, for a staff
socket, from the next event of another user's session delivered to it)."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.events import session_group
from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.services import session_create
from tests.conftest import echo_responder

pytestmark = pytest.mark.django_db(transaction=True)


async def token_for(user, seconds: float | None = None) -> str:
    def make() -> str:
        token = AccessToken.for_user(user)
        if seconds is not None:
            token.set_exp(lifetime=timedelta(seconds=seconds))
        return str(token)

    return await sync_to_async(make)()


async def signed_in(user, seconds: float | None = None) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={await token_for(user, seconds)}")
    assert (await ws.connect())[0]
    return ws


async def event(ws, name: str, data: dict) -> dict:
    await ws.send_to(text_data=json.dumps({"event": name, "data": data}))
    return json.loads(await ws.receive_from(timeout=10))


async def closed_with(ws) -> int | None:
    output = await ws.receive_output(timeout=10)
    return output.get("code") if output["type"] == "websocket.close" else None


async def test_the_socket_is_closed_when_its_token_expires(user):
    # 4 s (3 to 4, as set_exp truncates): long enough for the pong on a slow machine.
    ws = await signed_in(user, seconds=4)
    assert (await event(ws, "ping", {}))["event"] == "pong"
    expired = json.loads(await ws.receive_from(timeout=10))
    assert expired["event"] == "error" and expired["data"]["code"] == "token_expired"
    assert await closed_with(ws) == 4001


async def test_an_auth_frame_with_a_fresh_token_keeps_the_socket_open(user, other_user):
    ws = await signed_in(user, seconds=4)
    renewed = await event(ws, "auth", {"token": await token_for(user)})
    assert renewed == {"event": "auth:ok", "data": {"userId": "alice"}}
    # Another user's token cannot take the socket over.
    refused = await event(ws, "auth", {"token": await token_for(other_user)})
    assert refused["event"] == "error" and refused["data"]["code"] == "forbidden"
    await asyncio.sleep(5)  # past the first token's expiry
    assert (await event(ws, "ping", {}))["event"] == "pong"
    await ws.disconnect()


async def test_a_deactivated_account_cannot_send_on_a_socket_it_opened(user):
    session = await sync_to_async(session_create)(actor=user)
    ws = await signed_in(user)
    joined = await event(ws, "session:join", {"sessionId": str(session.pk)})
    assert joined["event"] == "session:updated"
    user.is_active = False
    await sync_to_async(user.save)()
    await ws.send_to(
        text_data=json.dumps(
            {"event": "chat:message", "data": {"sessionId": str(session.pk), "content": "hi"}}
        )
    )
    assert await closed_with(ws) == 4001
    assert not await sync_to_async(ChatMessage.objects.exists)()


async def test_staff_who_lose_the_flag_lose_other_users_sessions_at_once(user, staff_user):
    session = await sync_to_async(session_create)(actor=user)
    ws = await signed_in(staff_user)
    request = {"sessionId": str(session.pk)}
    assert (await event(ws, "chat:history", request))["event"] == "chat:history"
    staff_user.is_staff = False
    await sync_to_async(staff_user.save)()
    refused = await event(ws, "chat:history", request)
    assert refused["event"] == "error" and refused["data"]["code"] == "session_not_found"
    await ws.disconnect()


# A staff socket joined to a customer's session must lose it with the flag (or the account),
# not keep receiving it until it happens to send something.


async def staff_watching(user, staff_user):
    """A staff socket joined to a customer's session and then to one of its own, whose events
    the tests use as a marker: each group's events reach the socket in the order sent."""
    customers = await sync_to_async(session_create)(actor=user)
    own = await sync_to_async(session_create)(actor=staff_user)
    ws = await signed_in(staff_user)
    for session in (customers, own):
        joined = await event(ws, "session:join", {"sessionId": str(session.pk)})
        assert joined["event"] == "session:updated"
    return ws, customers, own


async def post(actor, session, content: str) -> None:
    await sync_to_async(message_send)(
        actor=actor, session_id=session.pk, content=content, responder=echo_responder
    )


async def next_chat_message(ws) -> dict:
    """The next message a user sent (their replies are skipped)."""
    while True:
        frame = json.loads(await ws.receive_from(timeout=10))
        if frame["event"] == "chat:message" and frame["data"]["message"]["direction"] == "incoming":
            return frame["data"]["message"]


async def test_staff_who_lose_the_flag_stop_receiving_other_users_sessions(user, staff_user):
    ws, customers, own = await staff_watching(user, staff_user)
    await post(user, customers, "seen by staff")
    assert (await next_chat_message(ws))["content"] == "seen by staff"

    staff_user.is_staff = False
    await sync_to_async(staff_user.save)()
    await post(user, customers, "my PIN is 1234")
    await post(staff_user, own, "marker")
    # The marker comes next: the customer's message (sent first) never reached the socket.
    assert (await next_chat_message(ws))["content"] == "marker"
    await ws.disconnect()


async def test_a_renewal_keeps_only_the_sessions_the_account_still_sees(user, staff_user):
    ws, customers, own = await staff_watching(user, staff_user)
    staff_user.is_staff = False
    await sync_to_async(staff_user.save)()
    renewed = await event(ws, "auth", {"token": await token_for(staff_user)})
    assert renewed["event"] == "auth:ok"
    # Left at renewal, not at the next delivery: the socket is out of the customer's group.
    layer = get_channel_layer()
    assert not layer._memberships.get(session_group(customers.pk))
    assert layer._memberships.get(session_group(own.pk))
    await post(staff_user, own, "still mine")
    assert (await next_chat_message(ws))["content"] == "still mine"
    await ws.disconnect()


async def test_a_deactivated_staff_socket_is_closed_at_the_next_delivery(user, staff_user):
    ws, customers, _ = await staff_watching(user, staff_user)
    staff_user.is_active = False
    await sync_to_async(staff_user.save)()
    await post(user, customers, "my PIN is 1234")
    assert await closed_with(ws) == 4001


async def test_staff_made_to_leave_while_typing_stop_typing_for_the_customer(user, staff_user):
    ws, customers, _ = await staff_watching(user, staff_user)
    customer = await signed_in(user)
    joined = await event(customer, "session:join", {"sessionId": str(customers.pk)})
    assert joined["event"] == "session:updated"
    await ws.send_json_to(
        {"event": "chat:typing", "data": {"sessionId": str(customers.pk), "isTyping": True}}
    )
    assert (await customer.receive_json_from(timeout=5))["data"]["isTyping"] is True

    staff_user.is_staff = False
    await sync_to_async(staff_user.save)()
    renewed = await event(ws, "auth", {"token": await token_for(staff_user)})
    assert renewed["event"] == "auth:ok"

    # Leaving the session cancels the timer that would have said so: it is said at once.
    stopped = await customer.receive_json_from(timeout=5)
    assert stopped["event"] == "chat:typing" and stopped["data"]["isTyping"] is False
    await ws.disconnect()
    await customer.disconnect()
