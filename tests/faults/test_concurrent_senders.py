"""REST and two sockets sending into one session at once, through a live server: every message
is acknowledged once and numbered uniquely, with no gap."""

import asyncio
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.support import LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)
PER_SENDER = 12


async def test_rest_and_two_sockets_get_gapless_unique_numbers(user):
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    server = LiveServer(live_env()).start()
    acked: list[int] = []

    async def rest():
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for i in range(PER_SENDER):
                response = await http.post(
                    f"/api/sessions/{session.pk}/messages",
                    json={"message": f"What is my balance? ({i})", "clientMessageId": f"rest-{i}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                acked.append(response.json()["message"]["sequence_number"])
                acked.append(response.json()["response"]["sequence_number"])

    async def socket(name: str):
        url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"
        async with websockets.connect(url) as ws:
            for i in range(PER_SENDER):
                frame = {
                    "sessionId": str(session.pk),
                    "content": f"Show my balance please ({name} {i})",
                    "clientMessageId": f"{name}-{i}",
                }
                await ws.send(json.dumps({"event": "chat:message", "data": frame}))
                while True:
                    answer = json.loads(await ws.recv())
                    if answer["event"] == "chat:ack":
                        acked.extend(
                            [
                                answer["data"]["sequenceNumber"],
                                answer["data"]["responseSequenceNumber"],
                            ]
                        )
                        break
                    assert answer["event"] != "error", answer

    try:
        await asyncio.wait_for(asyncio.gather(rest(), socket("ws-a"), socket("ws-b")), timeout=120)
    finally:
        server.stop()

    total = 3 * PER_SENDER * 2
    assert sorted(acked) == list(range(1, total + 1))
    stored = await sync_to_async(
        lambda: list(
            ChatMessage.objects.filter(session_id=session.pk).values_list(
                "sequence_number", flat=True
            )
        )
    )()
    assert sorted(stored) == list(range(1, total + 1))
