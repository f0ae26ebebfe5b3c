"""The examples in docs/websocket.md work as written against a live server."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from agents_app.demo_data import seed_demo
from tests.support import ROOT, LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)
DOC = (ROOT / "docs/websocket.md").read_text()


@pytest.fixture
def server():
    seed_demo(days=30)
    live = LiveServer(live_env()).start()
    yield live
    live.stop()


def test_the_python_example_works(server):
    code = re.search(r"```python\n(.*?)```", DOC, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "BASE": server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "stored as # 1" in result.stdout
    assert "$5,432.10" in result.stdout


def test_the_browser_example_works(server):
    script = re.search(r'```html\n<script type="module">\n(.*?)</script>', DOC, re.S).group(1)
    # Node's WHATWG WebSocket and fetch stand in for the browser; `location` is the page's.
    prelude = f"const location = {{origin: {server.url!r}}};\n"
    # A watchdog that fails: a slow machine's first turn (the NLU model loads lazily) must not
    # be mistaken for a missing answer, and a missing answer must not pass as a clean exit.
    watchdog = '\nsetTimeout(() => { console.error("no answer"); process.exit(1); }, 45000);\n'
    logged = script.replace(
        'console.log("bot:", data.response.content);',
        'console.log("bot:", data.response.content); process.exit(0);',
    )
    assert logged != script
    node = shutil.which("node")
    assert node, "node is required for this test"
    result = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "--input-type=module",
            "-e",
            prelude + logged + watchdog,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "bot:" in result.stdout and "$5,432.10" in result.stdout
