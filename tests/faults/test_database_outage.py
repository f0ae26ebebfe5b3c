"""A throwaway PostgreSQL stopped mid-traffic: senders get 503 or retryable errors, the service
recovers by itself when it returns, and what was acknowledged is exactly what was stored."""

import asyncio
import json
import time

import httpx
import psycopg
import pytest
import websockets

from tests.support import LiveServer, ThrowawayPostgres, make_user_in, migrate


@pytest.fixture
def outage_stack(settings):
    pg = ThrowawayPostgres().init()
    pg.start()
    migrate(pg.url)
    token = make_user_in(pg.url, "outage", "outage-pass-123")
    server = LiveServer(
        {
            "DATABASE_URL": pg.url,
            "REDIS_URL": settings.REDIS_URL,
            "DB_POOL_TIMEOUT": "2",
            "DB_CONNECTION_TIMEOUT": "1000",
            "CHAT_MESSAGE_RATE": "",  # this test is about the database, not the limit
        },
        server="uvicorn",
    ).start()
    yield pg, server, token
    server.stop()
    pg.destroy()


class Sender:
    """A well-behaved client: resends each message with the same clientMessageId until acked."""

    def __init__(self):
        self.acked: list[str] = []
        self.refusals: list[int | str] = []
        self.server_errors: list[str] = []


async def rest_sender(server, token, session_id, sender: Sender, stop: asyncio.Event):
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=20) as http:
        n = 0
        while not stop.is_set():
            cid = f"rest-{n}"
            while True:
                response = await http.post(
                    f"/api/sessions/{session_id}/messages",
                    json={"message": f"r{n}", "clientMessageId": cid},
                )
                if response.status_code == 200:
                    sender.acked.append(cid)
                    break
                if response.status_code == 503:
                    assert response.headers["Retry-After"]
                    assert response.json()["error"]["code"] == "service_unavailable"
                    sender.refusals.append(503)
                    await asyncio.sleep(0.2)
                    continue
                sender.server_errors.append(f"{response.status_code} {response.text[:200]}")
                return
            n += 1
            await asyncio.sleep(0.02)


async def ws_sender(server, token, session_id, sender: Sender, stop: asyncio.Event):
    url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={token}"
    async with websockets.connect(url) as ws:
        n = 0
        while not stop.is_set():
            cid = f"ws-{n}"
            while True:
                frame = {"sessionId": session_id, "content": f"w{n}", "clientMessageId": cid}
                await ws.send(json.dumps({"event": "chat:message", "data": frame}))
                answer = json.loads(await ws.recv())
                while answer["event"] not in {"chat:ack", "error"}:
                    answer = json.loads(await ws.recv())
                if answer["event"] == "chat:ack":
                    assert json.loads(await ws.recv())["event"] == "chat:response"
                    sender.acked.append(cid)
                    break
                if answer["data"]["retryable"]:
                    sender.refusals.append(answer["data"]["code"])
                    await asyncio.sleep(0.2)
                    continue
                sender.server_errors.append(json.dumps(answer))
                return
            n += 1
            await asyncio.sleep(0.02)


async def wait_for_status(http, path: str, expected: int, timeout: float = 60) -> httpx.Response:
    """The first answer to `path` with `expected` status, or the last one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get(path)
        if response.status_code == expected or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_database_outage_mid_traffic(outage_stack):
    pg, server, token = outage_stack
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        created = await http.post("/api/sessions", headers={"Authorization": f"Bearer {token}"})
        session_id = created.json()["sessionId"]

        sender, stop = Sender(), asyncio.Event()
        tasks = [
            asyncio.create_task(rest_sender(server, token, session_id, sender, stop)),
            asyncio.create_task(ws_sender(server, token, session_id, sender, stop)),
        ]
        deadline = time.monotonic() + 30
        while len(sender.acked) < 6 and time.monotonic() < deadline and not sender.server_errors:
            await asyncio.sleep(0.1)
        before_outage = len(sender.acked)
        await asyncio.to_thread(pg.stop)
        # However long the server takes to notice (pool and connect timeouts, a busy machine),
        # /health must come to say so; the deadline only bounds a server that never does.
        health = await wait_for_status(http, "/health", 503)
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        await asyncio.to_thread(pg.start)
        deadline = time.monotonic() + 30
        recovered_from = len(sender.acked)
        while len(sender.acked) < recovered_from + 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        assert (await http.get("/health")).status_code == 200

    assert sender.server_errors == []
    assert before_outage > 0
    assert sender.refusals, "the outage was never observed by a sender"
    assert len(sender.acked) >= recovered_from + 10, "the service did not recover without a restart"
    assert server.process.poll() is None  # same process throughout

    with psycopg.connect(pg.url) as conn:
        stored = [
            row[0]
            for row in conn.execute(
                "SELECT client_message_id FROM chat_messages WHERE direction = 'incoming'"
            )
        ]
        counts = conn.execute(
            "SELECT count(*), max(sequence_number), (SELECT message_count FROM chat_sessions)"
            " FROM chat_messages"
        ).fetchone()
    assert sorted(stored) == sorted(sender.acked)  # every ack stored once, nothing else stored
    assert counts[0] == counts[1] == counts[2]  # gapless numbering survived the outage
