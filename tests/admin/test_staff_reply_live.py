"""A reply typed on the admin session page reaches the user's open chat socket live."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken

from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession
from tests.admin.conftest import converse

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_event(communicator, event, timeout=5):
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        if frame["event"] == event:
            return frame


async def test_a_staff_reply_arrives_on_the_users_socket(user, support_user):
    session = await sync_to_async(converse)(user, "Can a person help me with a dispute?")
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    ws = WebsocketCommunicator(application, f"/ws/chat/?token={token}")
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"event": "session:join", "data": {"sessionId": str(session.pk)}})
    await receive_event(ws, "session:updated")

    def reply_from_the_admin():
        client = Client()
        client.force_login(support_user)
        url = reverse("admin:sessions_app_chatsession_reply", args=[session.pk])
        return client.post(url, {"content": "Hello, this is Sam from support."})

    response = await sync_to_async(reply_from_the_admin)()
    assert response.status_code == 302

    pushed = (await receive_event(ws, "chat:message"))["data"]
    assert pushed["sessionId"] == str(session.pk)
    message = pushed["message"]
    assert message["content"] == "Hello, this is Sam from support."
    assert message["direction"] == "outgoing" and message["sequence_number"] == 3
    assert message["agent_info"] == {
        "primary": "human",
        "agentsInvolved": ["human"],
        "staff": "sam",
    }
    await ws.disconnect()

    stored = await sync_to_async(ChatMessage.objects.get)(message_id=message["message_id"])
    assert stored.session_id == session.pk and stored.agent_info["staff"] == "sam"
    assert (await sync_to_async(ChatSession.objects.get)(pk=session.pk)).message_count == 3
