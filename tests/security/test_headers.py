import pytest

from chatbackend.logging import RedactSecretsFilter

pytestmark = pytest.mark.django_db


def test_security_headers_and_csp(client):
    response = client.get("/health/live")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_api_docs_pages_load_their_bundles_from_us(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn.jsdelivr" not in page.content and b"unpkg" not in page.content
    assert "style-src 'self' 'unsafe-inline'" in page["Content-Security-Policy"]


def test_cors_allows_configured_origins_only(client):
    allowed = client.options(
        "/api/sessions",
        HTTP_ORIGIN="http://localhost:3006",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type,x-session-id",
    )
    assert allowed["Access-Control-Allow-Origin"] == "http://localhost:3006"
    assert "x-session-id" in allowed["Access-Control-Allow-Headers"]
    refused = client.options(
        "/api/sessions",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in refused


@pytest.mark.parametrize(
    "line",
    [
        "GET /ws/chat/?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk HTTP/1.1",
        "Authorization: Bearer abc.def.ghi",
        "connecting with refreshToken=secret-value&x=1",
        "payload eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.sig_part-here",
    ],
)
def test_log_lines_never_keep_tokens(line):
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (line,), None)
    RedactSecretsFilter().filter(record)
    text = record.getMessage()
    assert "eyJ" not in text and "secret-value" not in text and "abc.def.ghi" not in text
    assert "redacted" in text
