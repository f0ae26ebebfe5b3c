"""A live socket stays signed in only as long as its token and its account: it is closed when the
token expires (unless renewed by an `auth` frame), and a deactivated account or a staff flag
taken away counts from the socket's next event, as on the next REST request."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from sessions_app.services import session_create

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
    ws = await signed_in(user, seconds=2)
    assert (await event(ws, "ping", {}))["event"] == "pong"
    expired = json.loads(await ws.receive_from(timeout=10))
    assert expired["event"] == "error" and expired["data"]["code"] == "token_expired"
    assert await closed_with(ws) == 4001


async def test_an_auth_frame_with_a_fresh_token_keeps_the_socket_open(user, other_user):
    ws = await signed_in(user, seconds=2)
    renewed = await event(ws, "auth", {"token": await token_for(user)})
    assert renewed == {"event": "auth:ok", "data": {"userId": "alice"}}
    # Another user's token cannot take the socket over.
    refused = await event(ws, "auth", {"token": await token_for(other_user)})
    assert refused["event"] == "error" and refused["data"]["code"] == "forbidden"
    await asyncio.sleep(3)  # past the first token's expiry
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
