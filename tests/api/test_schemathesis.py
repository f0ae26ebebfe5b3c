"""Property-based API testing: schemathesis drives the live server from its own schema and
must find no 5xx and no response that breaks the documented schema."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken

from sessions_app.services import session_create
from tests.support import ROOT, LiveServer, live_env

pytestmark = pytest.mark.django_db(transaction=True)
CHECKS = (
    "not_a_server_error,response_schema_conformance,status_code_conformance,"
    "content_type_conformance"
)


def test_schemathesis_finds_no_server_errors_or_schema_violations(tmp_path):
    user = get_user_model().objects.create_user(username="fuzz", password="fuzz-pass-123")
    session_create(actor=user)
    server = LiveServer(live_env()).start()
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    try:
        result = subprocess.run(
            [
                executable,
                "run",
                f"{server.url}/api/schema/",
                "--header",
                f"Authorization: Bearer {AccessToken.for_user(user)}",
                "--checks",
                CHECKS,
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "30",
                "--workers",
                "2",
                "--seed",
                "1",
                "--request-timeout",
                "20",
            ],
            cwd=ROOT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    (tmp_path / "schemathesis.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
