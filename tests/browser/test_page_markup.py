"""The chat page's markup and script, without a browser: what a strict CSP and safe
rendering need (tests/browser/test_chat_page.py runs the page for real)."""

import re
from pathlib import Path

import pytest
from django.conf import settings


@pytest.mark.django_db
def test_the_page_is_ready_for_a_strict_csp(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts)  # no inline script
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    assert not re.search(r"\sstyle\s*=", html)  # no inline styles
    assert '<script src="/static/chat/chat.js" defer' in html
    assert '<link rel="stylesheet" href="/static/chat/chat.css"' in html


def test_the_script_never_writes_html_or_keeps_tokens_on_disk():
    script = (Path(settings.BASE_DIR) / "static" / "chat" / "chat.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "localStorage." not in script
    assert "eval(" not in script and "new Function" not in script
    assert "?token=" not in script
