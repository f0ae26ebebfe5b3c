"""The official JavaScript socket.io-client (npm), used exactly as the original service's
frontends use it: `io(url, {auth: {token}})`, `chat:message` -> `chat:response`.

These tests fail, never skip, when Node.js or the npm package is missing: `make test` runs
`npm ci --prefix tests/js` first.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from messaging_app.models import ChatMessage
from tests.support import ROOT, LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

JS_DIR = ROOT / "tests" / "js"
DOCS = ROOT / "docs" / "socketio.md"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is not installed; the Socket.IO client test needs node >= 18")
    if not (JS_DIR / "node_modules" / "socket.io-client" / "package.json").is_file():
        pytest.fail("socket.io-client is not installed: run `npm ci --prefix tests/js`")
    return path


def run_node(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node(), *args],
        cwd=JS_DIR,  # the package resolves from tests/js/node_modules
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "transports", ["", "websocket"], ids=["polling-then-upgrade", "websocket-only"]
)
def test_the_official_client_chats_and_a_bad_token_is_refused(user, chat_server, transports):
    token = str(AccessToken.for_user(user))
    result = run_node(
        "socketio_chat.mjs",
        env={"CHAT_URL": chat_server.url, "CHAT_TOKEN": token, "CHAT_TRANSPORTS": transports},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)

    refused = {"message": "Invalid or expired token", "data": {"code": "unauthorized"}}
    assert out["refused"] == refused
    assert out["greeting"] == {"userId": "alice", "authenticated": True}
    response = out["response"]
    assert response["message"]["content"] == "What is my account balance?"
    assert response["message"]["client_message_id"] == "js-1"
    assert response["response"]["direction"] == "outgoing"
    assert response["response"]["parent_message_id"] == response["message"]["message_id"]
    assert response["content"] == response["response"]["content"]  # the seed's `data.content`
    assert response["agent"]["type"]
    assert out["ack"]["sequenceNumber"] == 1 and out["ack"]["responseSequenceNumber"] == 2
    assert out["transport"] == "websocket"  # the default client upgrades from polling

    stored = ChatMessage.objects.filter(session_id=response["sessionId"]).order_by(
        "sequence_number"
    )
    assert [(m.direction, m.client_message_id, m.user_id) for m in stored] == [
        ("incoming", "js-1", "alice"),
        ("outgoing", None, "alice"),
    ]


def test_the_documented_example_works_as_written(user, chat_server):
    """The first ```js block of docs/socketio.md, run verbatim."""
    example = re.search(r"```js\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert example is not None, "docs/socketio.md lost its socket.io-client example"
    token = str(AccessToken.for_user(user))
    result = run_node(
        "--input-type=module",
        env={"CHAT_URL": chat_server.url, "CHAT_TOKEN": token},
        stdin=example.group(1),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Bot response: "), result.stdout
    assert ChatMessage.objects.filter(user_id="alice").count() == 2


def test_the_official_client_reconnects_after_a_server_restart(user, chat_server_env):
    server = LiveServer(chat_server_env).start()
    replacement = None
    client = subprocess.Popen(
        [node(), "socketio_reconnect.mjs"],
        cwd=JS_DIR,
        env={**os.environ, "CHAT_URL": server.url, "CHAT_TOKEN": str(AccessToken.for_user(user))},
        stdout=subprocess.PIPE,
        text=True,
    )

    def next_line() -> dict:
        line = client.stdout.readline()
        assert line, f"the client exited with {client.wait()}"
        return json.loads(line)

    try:
        assert next_line() == {"event": "connected", "greetings": 1}
        server.stop()  # SIGTERM, as an orchestrator replacing the instance sends it
        # The transport closes ("transport close"): a Socket.IO-level disconnect ("io server
        # disconnect") would tell socket.io-client not to reconnect.
        assert next_line() == {"event": "disconnect", "reason": "transport close"}
        replacement = LiveServer(chat_server_env, port=server.port).start()
        assert next_line() == {"event": "connected", "greetings": 2}
        assert client.wait(timeout=30) == 0
    finally:
        client.kill()
        client.wait()
        client.stdout.close()
        server.stop()
        if replacement is not None:
            replacement.stop()
