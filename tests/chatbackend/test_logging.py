import uuid

import pytest
from django.conf import settings


def _log_lines() -> list[str]:
    for handler_name in ("file",):
        assert settings.LOGGING["handlers"][handler_name]["filename"].parent == settings.LOG_DIR
    path = settings.LOG_DIR / "chat-backend.log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.django_db
def test_each_request_logs_one_line_with_its_request_id_and_no_query_string(client):
    request_id = f"test-{uuid.uuid4().hex}"
    response = client.get("/health/live?token=secret-token-value", HTTP_X_REQUEST_ID=request_id)
    assert response["X-Request-ID"] == request_id

    lines = [line for line in _log_lines() if request_id in line]
    assert len(lines) == 1
    assert "GET /health/live 200" in lines[0]
    assert f"[{request_id}]" in lines[0]
    assert "secret-token-value" not in "\n".join(_log_lines())


@pytest.mark.django_db
def test_a_forged_request_id_is_replaced(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="bad id\nINJECTED")
    assert "INJECTED" not in response["X-Request-ID"]
    assert len(response["X-Request-ID"]) == 32
