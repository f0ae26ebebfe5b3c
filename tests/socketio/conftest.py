"""Live servers and a recording python-socketio client for the Socket.IO tests.

The Socket.IO protocol needs a real HTTP server (Channels' communicators do not speak it), so
these tests run the real ASGI application under daphne (tests.support.LiveServer) against the
pytest test database; they are `transaction=True` so what a test stores is visible to it.
"""

import asyncio
import contextlib
import json

import pytest
import socketio
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from tests.support import LiveServer, live_env

AUTH_TIMEOUT_SECONDS = 2
# Generous: a fresh server loads the agent pipeline on its first message, and CI machines are
# small and busy. Waiting only costs time when a test is failing anyway.
EVENT_TIMEOUT_SECONDS = 30
MESSAGE_RATE_PER_MINUTE = 5


@pytest.fixture(scope="package")
def chat_server_env(django_db_setup) -> dict[str, str]:
    """What a live server needs to share this test run's PostgreSQL database and Redis."""
    return live_env(
        WS_AUTH_TIMEOUT_SECONDS=str(AUTH_TIMEOUT_SECONDS),
        # Low enough for a test to reach; no other test sends more to one session.
        CHAT_MESSAGE_RATE=f"{MESSAGE_RATE_PER_MINUTE}/m",
    )


@pytest.fixture(scope="package")
def chat_servers(chat_server_env):
    """Two instances sharing PostgreSQL and Redis, like two replicas behind a load balancer."""
    servers: list[LiveServer] = []
    try:
        for _ in range(2):
            servers.append(LiveServer(chat_server_env).start())
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def chat_server(chat_servers) -> LiveServer:
    return chat_servers[0]


async def token_for(user) -> str:
    return await sync_to_async(lambda: str(AccessToken.for_user(user)))()


class Recorder:
    """A python-socketio client that keeps every event it receives, in arrival order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.backlog: list[tuple[str, object]] = []
        self.refusals: list = []  # CONNECT_ERROR payloads: {message, data}
        self.disconnects: list = []  # reasons
        self.sio.on("*", self._record)
        self.sio.on("connect_error", self.refusals.append)
        self.sio.on("disconnect", self.disconnects.append)

    async def _record(self, event, *args):
        await self.queue.put((event, args[0] if args else None))

    async def connect(self, url, *, token=None, transports=("websocket",), headers=None):
        await self.sio.connect(
            url,
            auth={"token": token} if token is not None else None,
            transports=list(transports),
            headers=headers or {},
            wait_timeout=EVENT_TIMEOUT_SECONDS,
        )

    async def emit(self, event, data=None):
        await self.sio.emit(event, data)

    async def call(self, event, data=None):
        """Emit with a Socket.IO acknowledgement and return what the server answered."""
        return await self.sio.call(event, data, timeout=EVENT_TIMEOUT_SECONDS)

    async def next(self, event: str, timeout: float = EVENT_TIMEOUT_SECONDS):
        """The data of the next `event`, keeping other events for later calls."""
        for index, (name, data) in enumerate(self.backlog):
            if name == event:
                del self.backlog[index]
                return data
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.queue.get()
                if name == event:
                    return data
                self.backlog.append((name, data))

    async def nothing_more(self, *events: str, wait: float = 0.5) -> bool:
        """True when none of `events` arrives within `wait` seconds (or is waiting already)."""
        await asyncio.sleep(wait)
        while not self.queue.empty():
            self.backlog.append(self.queue.get_nowait())
        return not [name for name, _ in self.backlog if name in events]

    async def close(self):
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
        # aiohttp closes its transports on the next loop iterations; let it before the test's
        # event loop goes away (an unclosed transport would be an unraisable warning).
        await asyncio.sleep(0.05)


@pytest.fixture
async def sio_client():
    """Factory: `await sio_client(url, token=...)`; every client is disconnected afterwards."""
    clients: list[Recorder] = []

    async def connect(url, **kwargs) -> Recorder:
        client = Recorder()
        clients.append(client)
        await client.connect(url, **kwargs)
        return client

    yield connect
    for client in clients:
        await client.close()


def dumps(event: str, data: dict) -> str:
    """A /ws/chat/ frame."""
    return json.dumps({"event": event, "data": data})
