"""What the real server (uvicorn, as `make run` and the Docker image start it) writes to its
console and to logs/ never holds a token, even in lines uvicorn itself logs."""

import contextlib

import httpx
import pytest
import websockets

from tests.support import LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)

# Shaped like a JWT, so that every redaction rule applies; the server refuses it (4001).
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiNDIifQ.c2lnbmF0dXJlLW5vdC1yZWFs"


async def test_websocket_handshake_lines_keep_no_token(tmp_path):
    console = tmp_path / "console.txt"
    server = LiveServer(live_env(LOG_DIR=str(tmp_path)), server="uvicorn", output=str(console))
    server.start()
    try:
        url = server.url.replace("http://", "ws://") + f"/ws/chat/?token={TOKEN}"
        with contextlib.suppress(websockets.ConnectionClosed):
            async with websockets.connect(url) as ws:
                await ws.recv()
        httpx.get(f"{server.url}/health/live?token={TOKEN}&account=12345678", timeout=10)
    finally:
        server.stop()
    for log in (console, tmp_path / "chat-backend.log"):
        text = log.read_text()
        # uvicorn's handshake line is there, and went through our redaction.
        assert '"WebSocket /ws/chat/?token=[redacted]"' in text, text
        assert TOKEN.split(".")[0] not in text
        # One line per request, ours, without the query string: uvicorn's access line (which
        # carries it, and repeated every request) stays off.
        assert "uvicorn.access" not in text and "12345678" not in text, text
        assert "GET /health/live 200" in text, text
