"""Redis stopped: messages are still stored and answered over REST and an open WebSocket,
fan-out failures are logged, /health reports degraded, and fan-out resumes afterwards."""

import asyncio
import json

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from messaging_app.models import ChatMessage
from sessions_app.services import session_create
from tests.support import LiveServer, ThrowawayRedis, live_env

pytestmark = pytest.mark.django_db(transaction=True)


async def next_event(ws, names: set[str], timeout: float = 15) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["event"] in names:
                return frame


async def test_redis_outage_keeps_chat_working(user):
    redis = ThrowawayRedis().start()
    server = LiveServer(
        live_env(REDIS_URL=redis.url),
        server="uvicorn",
    ).start()
    session = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    headers = {"Authorization": f"Bearer {token}"}
    ws_url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, headers=headers, timeout=20) as http,
            websockets.connect(ws_url) as ws,
        ):
            await ws.send(
                json.dumps({"event": "session:join", "data": {"sessionId": str(session.pk)}})
            )
            await next_event(ws, {"session:updated"})
            ok = await http.post(f"/api/sessions/{session.pk}/messages", json={"message": "before"})
            assert ok.status_code == 200
            assert (await next_event(ws, {"chat:message"}))["data"]["message"][
                "content"
            ] == "before"

            redis.stop()
            during = await http.post(
                f"/api/sessions/{session.pk}/messages", json={"message": "during"}
            )
            assert during.status_code == 200 and during.json()["response"]["content"]
            health = await http.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert (await http.get("/health/ready")).status_code == 503

            # The open socket still sends and is answered while fan-out is down.
            frame = {
                "sessionId": str(session.pk),
                "content": "socket during",
                "clientMessageId": "w1",
            }
            await ws.send(json.dumps({"event": "chat:message", "data": frame}))
            ack = await next_event(ws, {"chat:ack", "error"})
            assert ack["event"] == "chat:ack", ack
            assert (await next_event(ws, {"chat:response"}))["data"]["response"]["content"]

            # Redis back on the same port: this process restores its group memberships and the
            # open socket receives fan-out again (a publish may still meet a stale connection
            # at first, so keep sending until one arrives).
            redis.start_on_same_port()
            received = None
            for attempt in range(10):
                await asyncio.sleep(1)
                sent = await http.post(
                    f"/api/sessions/{session.pk}/messages", json={"message": f"after {attempt}"}
                )
                assert sent.status_code == 200
                try:
                    received = await next_event(ws, {"chat:message"}, timeout=2)
                    break
                except TimeoutError:
                    continue
            assert received is not None, "fan-out did not resume after Redis came back"
            assert (await http.get("/health")).json()["status"] == "healthy"
    finally:
        server.stop()
        redis.stop()

    contents = await sync_to_async(
        lambda: list(
            ChatMessage.objects.filter(session_id=session.pk, direction="incoming")
            .order_by("sequence_number")
            .values_list("content", flat=True)
        )
    )()
    assert contents[:3] == ["before", "during", "socket during"]
    assert all(c.startswith("after ") for c in contents[3:]) and len(contents) > 3
