"""The curl walk-through in docs/api.md works as written against a live server."""

import os
import re
import subprocess

import pytest

from agents_app.demo_data import seed_demo
from tests.support import ROOT, LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_curl_resume_flow_in_docs_api_md_works():
    block = re.search(r"```bash\n(BASE=.*?)```", (ROOT / "docs/api.md").read_text(), re.S).group(1)
    seed_demo(days=30)
    server = LiveServer(live_env()).start()
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            env={**os.environ, "BASE": server.url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"success": true' in out
    assert "$5,432.10" in out and "$12,500.00" in out
    assert '"status": "resolved"' in out
    assert out.rstrip().endswith('"session_closed"')
