"""An active session idle past its TTL becomes `expired` on a running server with no cron job:
the server's own sweeper marks it and tells the session's sockets."""

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from sessions_app.models import ChatSession
from sessions_app.services import session_create
from tests.support import LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)


def make_idle(session: ChatSession) -> None:
    ChatSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )


async def next_frame(ws, event: str, *, joined: bool) -> dict:
    """The next `event` frame that is (or is not) the reply to a join."""
    while True:
        frame = json.loads(await ws.recv())
        if frame["event"] == event and ("joined" in frame["data"]) == joined:
            return frame


async def test_the_server_expires_idle_sessions_by_itself(user):
    idle = await sync_to_async(session_create)(actor=user)
    fresh = await sync_to_async(session_create)(actor=user)
    token = await sync_to_async(lambda: str(AccessToken.for_user(user)))()
    server = LiveServer(live_env(SESSION_SWEEP_SECONDS="1"), server="uvicorn").start()
    ws_url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"
    try:
        async with websockets.connect(ws_url) as ws:
            join = {"event": "session:join", "data": {"sessionId": str(idle.pk)}}
            await ws.send(json.dumps(join))
            async with asyncio.timeout(15):
                joined = await next_frame(ws, "session:updated", joined=True)
                assert joined["data"]["session"]["status"] == "active"
                # Idle only once the socket is in the session's group, so the sweep that
                # expires it cannot come before the socket can hear about it.
                await sync_to_async(make_idle)(idle)
                frame = await next_frame(ws, "session:updated", joined=False)
            assert frame["data"]["session"]["status"] == "expired"
            assert frame["data"]["session"]["isActive"] is False
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as http:
            active = (await http.get("/api/users/alice/sessions?type=active")).json()
    finally:
        server.stop()
    assert [s["sessionId"] for s in active["sessions"]] == [str(fresh.pk)]
    statuses = {
        str(s.pk): s.status async for s in ChatSession.objects.filter(pk__in=[idle.pk, fresh.pk])
    }
    assert statuses == {str(idle.pk): "expired", str(fresh.pk): "active"}
