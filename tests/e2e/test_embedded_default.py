"""`make run`'s embedded default (SQLite, in-memory channel layer) really serves a chat.

The rest of the suite refuses to run off PostgreSQL and Redis (tests/conftest.py), so this is
the one test of the configuration a first-time user meets. It runs the recipe of the Makefile's
`run` target itself (as `make -n` prints it), with no DATABASE_URL, REDIS_URL or DB_* in the
server's environment, logs in as the demo user, completes a REST and a WebSocket chat turn,
reads /health and stops the server the way Ctrl-C / a supervisor would.
"""

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support import ROOT, free_port

# What `make run` prints for a first look (README): the seed's demo user.
DEMO_USER, DEMO_PASSWORD = "test", "test123"
QUESTION = "What is my account balance?"
# Never reached while the server works; bounds a broken one (a hang fails instead of blocking).
READY_TIMEOUT_SECONDS = 60
TURN_TIMEOUT_SECONDS = 60


def _tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no output)"


def _project_copy(target: Path) -> Path:
    """The project as `make run` sees it, but with its own BASE_DIR.

    The settings put the embedded database at BASE_DIR/db.sqlite3 (BASE_DIR = the directory
    above chatbackend/settings.py, symlinks resolved), with no variable to move it. A copy of
    the settings package and manage.py gives a temporary BASE_DIR, so a developer's own
    db.sqlite3 is neither used nor changed; everything else is a symlink to the real tree.
    """
    target.mkdir()
    own = {"chatbackend", "manage.py", "db.sqlite3", "logs", "staticfiles", ".venv", ".git"}
    for entry in ROOT.iterdir():
        if entry.name not in own:
            (target / entry.name).symlink_to(entry)
    shutil.copytree(
        ROOT / "chatbackend", target / "chatbackend", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy2(ROOT / "manage.py", target / "manage.py")
    return target


def _run_recipe(cwd: Path, port: int) -> list[list[str]]:
    """The commands of the Makefile's `run` target for this port, without its prerequisites.

    `install` and `model` are taken as done (-o): this virtualenv is installed and the suite
    has the NLU model already. BIN is this interpreter's bin directory (the venv `make` made).
    """
    make = ["make", "--no-print-directory", "-n", "run", "-o", "install", "-o", "model"]
    variables = [f"BIN={Path(sys.executable).parent}", f"PORT={port}", "HOST=127.0.0.1"]
    printed = subprocess.run(
        [*make, *variables],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    lines = printed.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.strip()]


def _embedded_env(port: int, logs: Path) -> dict[str, str]:
    """A shell with nothing configured, as on a fresh machine; `make run PORT=...` exports PORT."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        and not name.startswith("DB_")
    }
    return {**env, "PORT": str(port), "LOG_DIR": str(logs)}


@pytest.fixture
def embedded_server(tmp_path):
    """`make run` on a free port in a temporary project copy: (base url, process, its log)."""
    project = _project_copy(tmp_path / "project")
    port = free_port()
    env = _embedded_env(port, tmp_path / "logs")
    *setup, serve = _run_recipe(project, port)
    # The recipe must still be migrate, seed, serve: if it changes, this test must change too.
    assert [command[1:3] for command in setup] == [
        ["manage.py", "migrate"],
        ["manage.py", "seed_demo"],
    ], setup
    assert Path(serve[0]).name == "uvicorn" and "--port" in serve, serve

    output = tmp_path / "make-run.log"
    for command in setup:
        done = subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{shlex.join(command)}:\n{done.stdout}{done.stderr}"
    # The default really was taken: the database is the project copy's own SQLite file.
    assert (project / "db.sqlite3").is_file()

    with output.open("wb") as log:
        server = subprocess.Popen(serve, cwd=project, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            assert server.poll() is None, f"the server exited:\n{_tail(output)}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/live", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"the server never answered:\n{_tail(output)}"
            time.sleep(0.2)
        yield base, server, output
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


async def _websocket_turn(base: str, token: str, session_id: str) -> tuple[dict, dict]:
    url = base.replace("http://", "ws://") + "/ws/chat/"
    # The chat page's own origin: the development default allows it on the served port.
    async with (
        asyncio.timeout(TURN_TIMEOUT_SECONDS),
        websockets.connect(url, origin=base) as ws,
    ):
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        frames = {}
        while "auth:ok" not in frames:
            frame = json.loads(await ws.recv())
            frames[frame["event"]] = frame["data"]
        data = {"sessionId": session_id, "content": QUESTION, "clientMessageId": "ws-1"}
        await ws.send(json.dumps({"event": "chat:message", "data": data}))
        while "chat:response" not in frames:
            frame = json.loads(await ws.recv())
            assert frame["event"] != "error", frame
            frames[frame["event"]] = frame["data"]
    return frames["chat:ack"], frames["chat:response"]


async def _oversized_frame_close_code(base: str) -> int:
    """What the served socket does with a 2 MiB frame: uvicorn's --ws-max-size closes it."""
    url = base.replace("http://", "ws://") + "/ws/chat/"
    async with (
        asyncio.timeout(TURN_TIMEOUT_SECONDS),
        websockets.connect(url, origin=base, max_size=None) as ws,
    ):
        await ws.send("x" * (2 * 1024 * 1024))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_make_run_serves_a_chat_on_sqlite_and_the_in_memory_layer(embedded_server):
    base, server, output = embedded_server
    with httpx.Client(base_url=base, timeout=TURN_TIMEOUT_SECONDS) as http:
        login = http.post("/auth/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        http.headers["Authorization"] = f"Bearer {token}"

        created = http.post("/api/sessions", json={"metadata": {"channel": "e2e"}})
        assert created.status_code == 201, created.text
        session_id = created.json()["sessionId"]

        turn = http.post(f"/api/sessions/{session_id}/messages", json={"message": QUESTION})
        assert turn.status_code == 200, f"{turn.text}\n{_tail(output)}"
        body = turn.json()
        assert body["message"]["content"] == QUESTION
        assert body["message"]["sequence_number"] == 1
        assert body["response"]["sequence_number"] == 2
        # Answered by the agents from the seeded accounts (checking: 5432.10), not an error.
        assert "5,432.10" in body["response"]["content"], body["response"]

        ack, response = asyncio.run(_websocket_turn(base, token, session_id))
        assert ack["sessionId"] == session_id and ack["clientMessageId"] == "ws-1"
        assert (ack["sequenceNumber"], ack["responseSequenceNumber"]) == (3, 4)
        assert response["response"]["message_id"] == ack["responseMessageId"]
        assert "5,432.10" in response["response"]["content"], response["response"]

        # make run caps frames before buffering them (1009: message too big).
        assert asyncio.run(_oversized_frame_close_code(base)) == 1009

        history = http.get(f"/api/sessions/{session_id}/history").json()
        assert [m["sequence_number"] for m in history["messages"]] == [1, 2, 3, 4]

        health = http.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "healthy"
        database = health.json()["dependencies"]["database"]
        assert (database["status"], database["vendor"]) == ("up", "sqlite"), database
        assert health.json()["dependencies"]["channelLayer"] == {
            "status": "up",
            "backend": "InMemoryChannelLayer",
        }

    # Stopping is part of running: SIGTERM ends it by itself, within the graceful timeout.
    # uvicorn re-raises the signal once it has shut down, so "killed by SIGTERM" is a clean exit.
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) in {0, -signal.SIGTERM}, _tail(output)
    assert "Finished server process" in _tail(output), _tail(output)
