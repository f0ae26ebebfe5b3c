"""POST /api/chat/message, /api/sessions/{id}/messages, /api/chat/history and /api/agents,
answered by the real agent pipeline."""

from datetime import timedelta

import httpx
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents_app.demo_data import seed_demo
from chatbackend.asgi import application
from messaging_app.models import ChatMessage
from messaging_app.services import chat_message_send
from sessions_app.models import ChatSession
from sessions_app.services import session_create
from tests.conftest import bearer, echo_responder
from tests.support import at_once

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    seed_demo(days=30)
    return get_user_model().objects.get(username="test")


def test_send_without_session_opens_one_and_answers(api, customer):
    response = api.post(
        "/api/chat/message",
        {"message": "What is my account balance?", "type": "text"},
        format="json",
        **bearer(customer),
    )
    assert response.status_code == 200
    body = response.json()
    session = ChatSession.objects.get(pk=body["sessionId"])
    assert session.user_id == "test" and session.message_count == 2
    assert body["message"]["direction"] == "incoming"
    assert body["message"]["content"] == "What is my account balance?"
    assert body["response"]["direction"] == "outgoing"
    assert "$5,432.10" in body["response"]["content"]
    assert body["response"]["parent_message_id"] == body["message"]["message_id"]
    assert body["agent"]["type"] == "banking"
    assert "nlu" in body["agent"]["agentsInvolved"]
    assert 0 < body["agent"]["confidence"] <= 1


def test_send_with_header_and_seed_content_field(api, customer):
    session = session_create(actor=customer)
    response = api.post(
        "/api/chat/message",
        {"content": "hello"},
        format="json",
        HTTP_X_SESSION_ID=str(session.pk),
        **bearer(customer),
    )
    assert response.status_code == 200 and response.json()["sessionId"] == str(session.pk)
    assert ChatMessage.objects.filter(session=session).count() == 2


def test_client_message_id_makes_a_send_idempotent(api, customer):
    session = session_create(actor=customer)
    url = f"/api/sessions/{session.pk}/messages"
    first = api.post(
        url, {"message": "hello", "clientMessageId": "abc"}, format="json", **bearer(customer)
    )
    again = api.post(
        url, {"message": "hello", "clientMessageId": "abc"}, format="json", **bearer(customer)
    )
    assert again.status_code == 200
    assert again.json()["message"]["message_id"] == first.json()["message"]["message_id"]
    assert again.json()["response"]["message_id"] == first.json()["response"]["message_id"]
    assert ChatMessage.objects.filter(session=session).count() == 2

    conflict = api.post(
        url, {"message": "different", "clientMessageId": "abc"}, format="json", **bearer(customer)
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "duplicate_client_message_id"
    assert ChatMessage.objects.filter(session=session).count() == 2


def test_send_needs_a_token(api, customer):
    assert api.post("/api/chat/message", {"message": "hi"}, format="json").status_code == 401
    assert ChatMessage.objects.count() == 0 and ChatSession.objects.count() == 0


def test_send_to_another_users_session_is_404(api, customer, other_user):
    session = session_create(actor=customer)
    response = api.post(
        "/api/chat/message",
        {"message": "hi", "sessionId": str(session.pk)},
        format="json",
        **bearer(other_user),
    )
    assert response.status_code == 404
    assert ChatMessage.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": ""},
        {"message": "   "},
        {"message": "x" * 2001},
        {"message": "a\x00b"},
        {"message": 12},
        {"message": "hi", "sessionId": ""},
        {"message": "hi", "sessionId": ["x"]},
    ],
)
def test_send_rejects_bad_input_and_opens_no_session(api, customer, body):
    response = api.post("/api/chat/message", body, format="json", **bearer(customer))
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"validation_error", "message_too_long"}
    assert ChatMessage.objects.count() == 0 and ChatSession.objects.count() == 0


def test_a_malformed_session_id_is_404_like_an_unknown_one(api, customer):
    # As in the path and X-Session-ID: nothing tells a malformed id from one that exists.
    sent = api.post(
        "/api/chat/message",
        {"message": "hi", "sessionId": "not-a-uuid"},
        format="json",
        **bearer(customer),
    )
    history = api.get("/api/chat/history?sessionId=not-a-uuid", **bearer(customer))

    for response in (sent, history):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "session_not_found"
    assert ChatSession.objects.count() == 0


def test_message_over_2000_characters_names_the_limit(api, customer):
    response = api.post(
        "/api/chat/message", {"message": "x" * 2001}, format="json", **bearer(customer)
    )
    assert response.json()["error"]["details"]["maxLength"] == 2000


def test_chat_history_requires_a_session_id(api, customer):
    response = api.get("/api/chat/history", **bearer(customer))
    assert response.status_code == 400


def test_agents_lists_each_agent_and_whether_it_is_up(api, customer):
    response = api.get("/api/agents", **bearer(customer))
    assert response.status_code == 200
    agents = {a["name"]: a for a in response.json()["agents"]}
    assert set(agents) == {"nlp", "nlu", "banking", "banking_help", "mcp", "smalltalk"}
    assert all(a["up"] for a in agents.values())
    assert "balance_check" in agents["banking"]["handles"]
    assert "human_handoff" in agents["nlu"]["handles"]
    assert api.get("/api/agents").status_code == 401


def _fails(*args, **kwargs):
    raise RuntimeError("broken")


@pytest.mark.parametrize(
    ("agent", "part", "method"),
    [
        ("nlp", "nlp", "analyze"),
        ("mcp", "mcp", "list_tools"),
        ("banking_help", "banking_help", "answer"),
        ("smalltalk", "smalltalk", "handle"),
    ],
)
def test_agents_reports_an_agent_that_fails_as_down(
    api, customer, monkeypatch, agent, part, method
):
    from agents_app.orchestrator import default_orchestrator

    monkeypatch.setattr(getattr(default_orchestrator(), part), method, _fails)

    response = api.get("/api/agents", **bearer(customer))

    assert response.status_code == 200
    agents = {a["name"]: a for a in response.json()["agents"]}
    assert agents[agent]["up"] is False
    assert agents[agent]["details"] == {"error": "RuntimeError"}
    assert all(a["up"] for name, a in agents.items() if name != agent)


def test_agents_reports_the_banking_agent_down_without_its_tables(api, customer, monkeypatch):
    from agents_app.models import Account

    monkeypatch.setattr(Account.objects, "exists", _fails)

    agents = {a["name"]: a for a in api.get("/api/agents", **bearer(customer)).json()["agents"]}

    assert agents["banking"]["up"] is False
    assert agents["banking"]["details"] == {"error": "RuntimeError"}


@pytest.mark.django_db(transaction=True)
async def test_the_seed_resume_flow_over_http():
    """Log in, list unresolved sessions, resume one, chat, resolve: through the ASGI app."""
    await database_sync_to_async(seed_demo)(days=30)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        login = await http.post("/auth/login", json={"username": "test", "password": "test123"})
        assert login.status_code == 200
        auth = {"Authorization": f"Bearer {login.json()['token']}"}

        assert (await http.get("/api/users/test/sessions?type=unresolved", headers=auth)).json()[
            "count"
        ] == 0
        created = await http.post(
            "/api/sessions", json={"metadata": {"channel": "web"}}, headers=auth
        )
        session_id = created.json()["sessionId"]
        first = await http.post(
            "/api/chat/message",
            json={"message": "What is my account balance?"},
            headers={**auth, "X-Session-ID": session_id},
        )
        assert first.status_code == 200

        # Later, on another device: the unresolved session is offered and resumed.
        unresolved = (
            await http.get("/api/users/test/sessions?type=unresolved", headers=auth)
        ).json()
        assert [s["sessionId"] for s in unresolved["sessions"]] == [session_id]
        assert len(unresolved["sessions"][0]["recentMessages"]) == 2
        resumed = (await http.post(f"/api/sessions/{session_id}/resume", headers=auth)).json()
        assert resumed["success"] is True
        assert [m["sequence_number"] for m in resumed["history"]] == [1, 2]

        follow_up = await http.post(
            f"/api/sessions/{session_id}/messages",
            json={"message": "and my savings?"},
            headers=auth,
        )
        assert "$12,500.00" in follow_up.json()["response"]["content"]
        history = (await http.get(f"/api/sessions/{session_id}/history", headers=auth)).json()
        assert history["total"] == 4 and [m["sequence_number"] for m in history["messages"]] == [
            1,
            2,
            3,
            4,
        ]

        resolved = await http.post(
            f"/api/sessions/{session_id}/resolve", json={"notes": "answered"}, headers=auth
        )
        assert resolved.json()["status"] == "resolved"
        assert (await http.get("/api/users/test/sessions?type=unresolved", headers=auth)).json()[
            "count"
        ] == 0
    stored = await database_sync_to_async(ChatSession.objects.get)(pk=session_id)
    assert stored.is_resolved and stored.message_count == 4


def test_a_resent_first_message_does_not_open_a_second_session(api, customer):
    # The client lost the answer to the send that opened its session, so it has no session id
    # to name when it resends: the clientMessageId alone must find the stored turn.
    body = {"message": "hello", "clientMessageId": "first-1"}
    first = api.post("/api/chat/message", body, format="json", **bearer(customer))
    again = api.post("/api/chat/message", body, format="json", **bearer(customer))
    assert first.status_code == again.status_code == 200
    assert again.json()["sessionId"] == first.json()["sessionId"]
    assert again.json()["message"]["message_id"] == first.json()["message"]["message_id"]
    assert ChatSession.objects.count() == 1 and ChatMessage.objects.count() == 2

    conflict = api.post(
        "/api/chat/message",
        {"message": "other", "clientMessageId": "first-1"},
        format="json",
        **bearer(customer),
    )
    assert conflict.status_code == 409
    assert ChatSession.objects.count() == 1 and ChatMessage.objects.count() == 2


@pytest.mark.parametrize("later", ["closed", "past_the_window"])
def test_a_first_message_id_used_again_later_opens_a_new_session(api, customer, later):
    # Clients may number messages per conversation ("web-1" each time): once the first
    # conversation is closed, or the retry window has passed, the same id starts a new one
    # instead of leading back into the old session.
    body = {"message": "hello", "clientMessageId": "web-1"}
    first = api.post("/api/chat/message", body, format="json", **bearer(customer)).json()
    if later == "closed":
        assert (
            api.delete(f"/api/sessions/{first['sessionId']}", **bearer(customer)).status_code == 200
        )
    else:
        ChatMessage.objects.filter(session_id=first["sessionId"]).update(
            created_at=timezone.now() - timedelta(minutes=11)
        )

    again = api.post("/api/chat/message", body, format="json", **bearer(customer))

    assert again.status_code == 200
    assert again.json()["sessionId"] != first["sessionId"]
    assert again.json()["message"]["sequence_number"] == 1
    assert ChatSession.objects.count() == 2 and ChatMessage.objects.count() == 4


@pytest.mark.parametrize("blank", ["\u200b", " \ufeff ", "\u2060\u200d", "\u200c\n"])
def test_a_message_of_invisible_characters_is_blank(api, customer, blank):
    response = api.post("/api/chat/message", {"message": blank}, format="json", **bearer(customer))

    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "message"
    assert ChatMessage.objects.count() == 0


def test_messages_refused_for_a_closed_session_do_not_use_its_quota(api, customer, settings):
    settings.CHAT_MESSAGE_RATE = "3/m"
    session = session_create(actor=customer)
    api.delete(f"/api/sessions/{session.pk}", **bearer(customer))
    url = f"/api/sessions/{session.pk}/messages"

    statuses = [
        api.post(url, {"message": f"hi {i}"}, format="json", **bearer(customer)).status_code
        for i in range(5)
    ]

    assert statuses == [409] * 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_of_a_first_message_open_one_session(customer):
    def send(_i):
        return chat_message_send(
            actor=customer, content="hello", client_message_id="first-2", responder=echo_responder
        ).session.pk

    sessions, errors = at_once(6, send)
    assert errors == [] and len(set(sessions)) == 1
    assert ChatSession.objects.count() == 1 and ChatMessage.objects.count() == 2
