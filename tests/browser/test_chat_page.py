"""The chat page at `/` in a real browser (Debian's Chromium driven by Playwright) against a
real server (daphne, PostgreSQL, Redis): the seed's Session Resume Flow as a person runs it.

The page is served with the project's Content-Security-Policy (settings.SECURE_CSP), so it
is checked to work with no inline script or style: any violation fails the test. Chromium
missing is a failure, not a skip: scripts/install_browser.sh (run by `make test`) installs it.
"""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection

from agents_app.demo_data import seed_demo
from messaging_app.models import ChatMessage
from sessions_app.models import ChatSession, SessionStatus
from tests.support import LiveServer, free_port, live_env

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = "What is my account balance?"
HANDOFF = "I want to talk to a person"
STAFF_REPLY = "Hi, this is the support team. Your card is safe."


def in_thread(call, *args):
    """Run ORM code off the test's thread: Playwright's sync API keeps an event loop running
    there, and Django refuses database access from a thread with a running loop."""

    def run():
        try:
            return call(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@pytest.fixture
def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: run scripts/install_browser.sh "
            "(make test does), or set CHROMIUM_PATH."
        )
    return CHROMIUM


@pytest.fixture
def server():
    seed_demo(days=5)  # test/test123 with accounts; support/support123 (staff)
    port = free_port()
    live = LiveServer(
        live_env(
            ALLOWED_ORIGINS=f"http://127.0.0.1:{port}",
            # Its own rate-limit counters: logins from earlier runs must not count here.
            CACHE_KEY_PREFIX=f"browser-test-{uuid.uuid4().hex}",
        ),
        port=port,
    ).start()
    yield live
    live.stop()


def as_support_staff(action: str) -> None:
    """What a person does from the admin (the same services the admin's buttons call)."""
    from django.contrib.auth import get_user_model

    from messaging_app.services import message_staff_reply
    from sessions_app.services import session_hand_back

    session = ChatSession.objects.get(user_id="test")
    staff = get_user_model().objects.get(username="support")
    if action == "reply":
        message_staff_reply(actor=staff, session_id=session.pk, content=STAFF_REPLY)
    else:
        session_hand_back(actor=staff, session_id=session.pk)


def test_log_in_chat_reload_and_resume(chromium, server):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    socket_urls: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.set_default_timeout(20_000)
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("websocket", lambda ws: socket_urls.append(ws.url))

            # Log in: nobody has a conversation yet.
            response = page.goto(f"{server.url}/")
            # Served with the project's CSP: the page must work with no inline script or style.
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            expect(page.locator("#login-view")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "login.png")
            page.fill("#username", "test")
            page.fill("#password", "test123")
            page.click("#login-button")
            expect(page.locator("#sessions-view")).to_be_visible()
            expect(page.locator("#sessions-empty")).to_be_visible()

            # Start a conversation and get the assistant's answer live.
            page.click("#new-session")
            expect(page.locator("#chat-view")).to_be_visible()
            expect(page.locator("#connection")).to_have_text("connected")
            page.fill("#message-input", QUESTION)
            page.press("#message-input", "Enter")
            bubbles = page.locator("#messages .bubble")
            expect(bubbles).to_have_count(2, timeout=45_000)
            expect(bubbles.nth(0)).to_have_text(QUESTION)
            bot_reply = bubbles.nth(1).inner_text()
            assert bot_reply.strip()
            expect(page.locator(".message.outgoing .meta").first).to_contain_text("Assistant")

            # The reply's quickReplies are buttons; one sends its text as a quick_reply.
            page.locator(".quick-reply", has_text="Recent transactions").click()
            expect(bubbles).to_have_count(4, timeout=45_000)
            expect(bubbles.nth(2)).to_have_text("Recent transactions")
            transactions = bubbles.nth(3).inner_text()

            # Asking for a person hands the conversation over: the page shows it waiting.
            page.fill("#message-input", HANDOFF)
            page.click("#send")
            expect(bubbles).to_have_count(6, timeout=45_000)
            handoff_reply = bubbles.nth(5).inner_text()
            expect(page.locator("#session-status")).to_have_text("pending")
            expect(page.locator("#handoff-banner")).to_be_visible()

            # A person answers from the admin side; it arrives on the open page.
            in_thread(as_support_staff, "reply")
            staff = page.locator(".message.staff")
            expect(staff.locator(".bubble")).to_have_text(STAFF_REPLY)
            expect(staff.locator(".meta")).to_contain_text("support (support team)")

            # Reload: still logged in (sessionStorage), the conversation is there to resume.
            page.reload()
            expect(page.locator("#sessions-view")).to_be_visible()
            sessions = page.locator("#session-list li")
            expect(sessions).to_have_count(1)
            expect(sessions.locator(".status")).to_have_text("pending")
            expect(sessions.locator(".preview")).to_have_text(STAFF_REPLY)
            page.screenshot(path=ARTIFACTS / "sessions.png")
            sessions.locator("button.resume").click()

            # Resumed with its history in order, still waiting for the person.
            expect(page.locator("#chat-view")).to_be_visible()
            expect(bubbles).to_have_count(7)
            assert bubbles.all_inner_texts() == [
                QUESTION,
                bot_reply,
                "Recent transactions",
                transactions,
                HANDOFF,
                handoff_reply,
                STAFF_REPLY,
            ]
            expect(page.locator("#handoff-banner")).to_be_visible()
            expect(page.locator("#connection")).to_have_text("connected")

            # Handed back to the bot: the page follows live, and the bot answers again.
            in_thread(as_support_staff, "hand_back")
            expect(page.locator("#session-status")).to_have_text("active")
            expect(page.locator("#handoff-banner")).to_be_hidden()
            page.fill("#message-input", "Thank you!")
            page.click("#send")
            expect(bubbles).to_have_count(9, timeout=45_000)
            expect(bubbles.nth(7)).to_have_text("Thank you!")
            expect(page.locator(".message.sending")).to_have_count(0)

            page.screenshot(path=ARTIFACTS / "chat-page.png", full_page=True)

            # Tokens: never in a URL, never in localStorage.
            stored = page.evaluate("() => [localStorage.length, sessionStorage.length]")
            assert stored == [0, 1]
        finally:
            browser.close()

    assert socket_urls and all("token" not in url for url in socket_urls), socket_urls
    assert problems == [], problems  # no script errors, no CSP violations

    session = ChatSession.objects.get(user_id="test")
    assert session.status == SessionStatus.ACTIVE and session.message_count == 9
    stored_messages = list(ChatMessage.objects.filter(session=session).order_by("sequence_number"))
    assert [m.sequence_number for m in stored_messages] == list(range(1, 10))
    assert [m.direction[:2] for m in stored_messages] == [
        *["in", "ou"] * 3,
        "ou",  # the person's reply
        "in",
        "ou",
    ]
    assert stored_messages[1].content == bot_reply
    assert stored_messages[2].message_type == "quick_reply"
    assert stored_messages[6].agent_info["staff"] == "support"
    assert all(m.client_message_id for m in stored_messages if m.direction == "incoming")
