"""The bank's MCP server over Streamable HTTP (live daphne), stdio and in-process, and McpAgent.

Transactional tests: the live server, the stdio process and the tools' worker threads all use
connections of their own, so the data a test creates must be committed to be seen.
"""

import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from rest_framework_simplejwt.tokens import AccessToken

from agents_app.demo_data import seed_demo
from agents_app.mcp_agent import McpAgent, ToolCall, UnreadableCommand
from agents_app.mcp_server import BANK_TOOLS, bank_mcp
from agents_app.models import Account, AuditRecord, Card, CardStatus, Transfer
from tests.support import ROOT, LiveServer, free_port, live_env

pytestmark = pytest.mark.django_db(transaction=True)


def _server_env(log_dir) -> dict[str, str]:
    return live_env(DB_POOL="false", LOG_DIR=str(log_dir))


@pytest.fixture(scope="module")
def live(django_db_setup, tmp_path_factory):
    """One daphne for the module: each test commits its own data to the test database."""
    server = LiveServer(_server_env(tmp_path_factory.mktemp("mcp-logs"))).start()
    yield server
    server.stop()


@pytest.fixture
def bank():
    seed_demo(days=3)  # users test and alice, three accounts and two cards each


def token_for(username: str) -> str:
    return str(AccessToken.for_user(get_user_model().objects.get(username=username)))


@asynccontextmanager
async def http_client(url: str, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=10) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


# --- Streamable HTTP on the live server -----------------------------------------------------
# "auto" settles on 2026-07-28; "legacy" is the initialize handshake most clients speak today.
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_http_client_sees_only_the_token_users_accounts(live, bank, mode):
    savings = Account.objects.get(user_id="test", account_type="savings")
    theirs = Account.objects.get(user_id="alice", account_type="savings")
    token = token_for("test")

    async def scenario():
        async with http_client(live.url, token, mode) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            mine = await client.call_tool("get_balance", {"account_id": str(savings.pk)})
            other = await client.call_tool("get_balance", {"account_id": str(theirs.pk)})
            listed = await client.call_tool("get_accounts", {})
            return client.protocol_version, tools, mine, other, listed

    version, tools, mine, other, listed = anyio.run(scenario)

    assert (version == "2026-07-28") == (mode == "auto")
    assert tools == set(BANK_TOOLS)
    assert not mine.is_error
    assert mine.structured_content["balance"] == str(savings.balance) == "12500.00"
    assert mine.structured_content["currency"] == "USD"
    assert other.is_error and other.structured_content is None
    leaked = other.model_dump_json()
    for secret in (str(theirs.pk), theirs.number_last4, str(theirs.balance), "alice"):
        assert secret not in leaked
    assert "Account not found" in leaked
    accounts = listed.structured_content["accounts"]
    assert {a["id"] for a in accounts} == {
        str(pk) for pk in Account.objects.filter(user_id="test").values_list("pk", flat=True)
    }
    assert {a["type"] for a in accounts} == {"checking", "savings", "credit"}


def test_concurrent_requests_of_two_users_each_see_their_own_accounts(live, bank):
    tokens = {username: token_for(username) for username in ("test", "alice")}
    seen: dict[str, set[frozenset[str]]] = {"test": set(), "alice": set()}

    async def calls(username: str) -> None:
        async with http_client(live.url, tokens[username]) as client:
            for _ in range(3):
                result = await client.call_tool("get_accounts", {})
                seen[username].add(
                    frozenset(a["id"] for a in result.structured_content["accounts"])
                )

    async def scenario():
        async with anyio.create_task_group() as tg:
            for username in (*tokens, *tokens, *tokens):
                tg.start_soon(calls, username)

    anyio.run(scenario)

    for username in tokens:
        owned = Account.objects.filter(user_id=username).values_list("pk", flat=True)
        assert seen[username] == {frozenset(str(pk) for pk in owned)}


def test_http_refuses_bad_tokens_and_methods_and_never_logs_the_token(live, bank):
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    user = get_user_model().objects.get(username="alice")
    inactive_token = token_for("alice")
    user.is_active = False
    user.save(update_fields=["is_active"])

    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {inactive_token}"},
        {"Authorization": f"Token {token_for('test')}"},
    ):
        response = httpx.post(f"{live.url}/mcp", json=call, headers={**accept, **headers})
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")

    for method in ("GET", "DELETE"):
        headers = {**accept, "Authorization": f"Bearer {token_for('test')}"}
        response = httpx.request(method, f"{live.url}/mcp", headers=headers, timeout=5)
        assert response.status_code == 405  # no stream to hold open, no session to end
        assert response.headers["allow"] == "POST"

    logged = "".join(path.read_text() for path in Path(live.env["LOG_DIR"]).iterdir())
    assert inactive_token not in logged


def test_block_card_over_http_changes_the_card_and_audits_it(live, bank):
    card = Card.objects.get(user_id="test", last4="4242")
    token = token_for("test")

    async def scenario():
        async with http_client(live.url, token) as client:
            return await client.call_tool("block_card", {"last4": "4242"})

    result = anyio.run(scenario)

    assert not result.is_error
    assert result.structured_content["status"] == "blocked"
    card.refresh_from_db()
    assert card.status == CardStatus.BLOCKED
    audit = AuditRecord.objects.get(action="card.block", object_id=str(card.pk))
    assert audit.actor == "mcp:test"
    assert audit.user_id == "test"
    assert Card.objects.filter(user_id="alice", status=CardStatus.BLOCKED).count() == 0


def test_transfer_with_the_same_idempotency_key_moves_money_once(live, bank):
    checking = Account.objects.get(user_id="test", account_type="checking")
    savings = Account.objects.get(user_id="test", account_type="savings")
    token = token_for("test")
    arguments = {
        "from_account_id": str(checking.pk),
        "to_account_id": str(savings.pk),
        "amount": "125.50",
        "idempotency_key": "mcp-test-transfer-1",
    }

    async def scenario():
        async with http_client(live.url, token) as client:
            first = await client.call_tool("create_transfer", arguments)
            again = await client.call_tool("create_transfer", arguments)
            return first, again

    first, again = anyio.run(scenario)

    assert not first.is_error and not again.is_error
    assert first.structured_content["id"] == again.structured_content["id"]
    assert first.structured_content["amount"] == "125.50"
    assert Transfer.objects.filter(idempotency_key="mcp-test-transfer-1").count() == 1
    checking.refresh_from_db()
    savings.refresh_from_db()
    assert checking.balance == Decimal("5432.10") - Decimal("125.50")
    assert savings.balance == Decimal("12500.00") + Decimal("125.50")
    assert AuditRecord.objects.filter(action="transfer.create", actor="mcp:test").count() == 1


# --- McpAgent -------------------------------------------------------------------------------
def test_agent_calls_the_bank_in_process_with_structured_data(bank):
    agent = McpAgent(servers=[])

    result = agent.call_tool(user_id="test", call=ToolCall("get_accounts"))

    assert result.ok, result.error
    assert result.server == "bank" and result.tool == "get_accounts"
    by_type = {a["type"]: a for a in result.data["accounts"]}
    credit = Account.objects.get(user_id="test", account_type="credit")
    assert by_type["credit"] == {
        "id": str(credit.pk),
        "type": "credit",
        "name": credit.name,
        "last4": credit.number_last4,
        "balance": "-420.35",
        "available": "2579.65",
        "currency": "USD",
    }
    assert len(by_type) == 3
    # Measured and reported (a duration, never negative); how long it took is not the point.
    assert isinstance(result.elapsed_ms, float) and result.elapsed_ms >= 0


def test_agent_reports_a_refused_tool_call_without_raising(bank):
    agent = McpAgent(servers=[])
    theirs = Account.objects.get(user_id="alice", account_type="checking")

    refused = agent.call_tool(
        user_id="test", call=ToolCall("get_balance", {"account_id": str(theirs.pk)})
    )
    unknown = agent.call_tool(user_id="test", call=ToolCall("drop_tables"))
    nowhere = agent.call_tool(user_id="test", call=ToolCall("convert", server="fx"))

    assert not refused.ok and "Account not found" in refused.error
    assert str(theirs.balance) not in refused.error
    assert not unknown.ok and not nowhere.ok


def test_agent_runs_only_tools_declared_read_only_when_asked_to(bank):
    agent = McpAgent(servers=[])
    block = ToolCall("block_card", {"last4": "4242"})

    read = agent.call_tool(user_id="test", call=ToolCall("get_cards"), read_only=True)
    refused = agent.call_tool(user_id="test", call=block, read_only=True)

    assert read.ok, read.error
    assert not refused.ok and refused.not_read_only
    assert Card.objects.get(user_id="test", last4="4242").status == CardStatus.ACTIVE
    assert not AuditRecord.objects.filter(action="card.block").exists()
    assert agent.call_tool(user_id="test", call=block).ok  # the caller decides: /mcp's way


async def test_agent_works_from_inside_djangos_thread_sensitive_worker(bank):
    # Where the chat pipeline calls it from: sync code run by sync_to_async from a consumer.
    agent = McpAgent(servers=[])
    call = ToolCall("get_balance", {"account_type": "checking"})

    result = await sync_to_async(agent.call_tool)(user_id="test", call=call)

    assert result.ok, result.error
    assert result.data["balance"] == "5432.10"


def test_agent_gives_up_on_a_server_that_never_answers(bank):
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        slow = {"name": "slow", "url": f"http://127.0.0.1:{port}/mcp"}
        agent = McpAgent(servers=[slow], timeout=0.5)

        result = agent.call_tool(user_id="test", call=ToolCall("convert", server="slow"))

    # The call returns with a timeout error instead of waiting for an answer that never comes
    # (the silent server would hold it forever); how fast is the machine's business.
    assert not result.ok
    assert result.error == "timed out"


def test_bank_tools_refuse_when_no_user_is_bound(bank):
    async def scenario():
        async with Client(bank_mcp) as client:
            return await client.call_tool("get_accounts", {})

    result = anyio.run(scenario)

    assert result.is_error
    assert "not authenticated" in result.content[0].text


def test_agent_reaches_configured_servers_over_streamable_http(live, bank):
    savings = Account.objects.get(user_id="test", account_type="savings")
    ext = {"Authorization": f"Bearer {token_for('test')}"}
    agent = McpAgent(
        servers=[
            {"name": "ext", "url": f"{live.url}/mcp", "headers": ext},
            {"name": "down", "url": f"http://127.0.0.1:{free_port()}/mcp"},
        ],
        timeout=5,
    )

    call = agent.parse_command("/ext.get_balance account_type=savings")
    result = agent.call_tool(user_id="ignored-by-remote-servers", call=call, read_only=True)
    block = ToolCall("block_card", {"last4": "4242"}, server="ext")
    not_run = agent.call_tool(user_id="test", call=block, read_only=True)
    listing = agent.list_tools(user_id="test")
    down = agent.call_tool(user_id="test", call=ToolCall("get_cards", server="down"))

    assert result.ok, result.error
    assert result.data["id"] == str(savings.pk)
    assert result.data["balance"] == "12500.00"
    assert not not_run.ok and not_run.not_read_only  # the remote server's own annotations
    assert Card.objects.get(user_id="test", last4="4242").status == CardStatus.ACTIVE
    assert set(listing["bank"]) == set(listing["ext"]) == set(BANK_TOOLS)
    assert listing["down"] == []
    assert not down.ok and down.error
    assert agent.is_up()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/get_accounts", ToolCall("get_accounts")),
        ("/get_balance savings", ToolCall("get_balance", {"account_type": "savings"})),
        (
            '/get_transactions {"limit": 5}',
            ToolCall("get_transactions", {"limit": 5}),
        ),
        (
            "/get_transactions account_type=credit limit=3",
            ToolCall("get_transactions", {"account_type": "credit", "limit": "3"}),
        ),
        ("/block_card 4242", ToolCall("block_card", {"last4": "4242"})),
        (
            '/fx.convert {"amount": "10", "from": "USD", "to": "EUR"}',
            ToolCall("convert", {"amount": "10", "from": "USD", "to": "EUR"}, server="fx"),
        ),
        ("What is my balance?", None),
        ("please /get_balance", None),
        ("/help", None),
        ("/etc/passwd", None),
        ("/get_transactions {not json", UnreadableCommand("get_transactions")),
        ('/get_accounts {"a":' + "[" * 1900, UnreadableCommand("get_accounts")),
        ("/get_balance [1, 2]", UnreadableCommand("get_balance")),
        ("/block_card my old card", UnreadableCommand("block_card")),
        ("/fx.convert {not json", UnreadableCommand("convert", server="fx")),
        ("/unknown.convert {}", None),
    ],
)
def test_parse_command_reads_tool_style_text_only(text, expected):
    agent = McpAgent(servers=[{"name": "fx", "url": "http://fx.invalid/mcp"}])
    assert agent.parse_command(text) == expected


# --- stdio ----------------------------------------------------------------------------------
def test_mcp_serve_speaks_stdio_for_one_user(bank, tmp_path):
    params = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp_serve", "--user", "test"],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatbackend.settings",
            **_server_env(tmp_path),
        },
        cwd=ROOT,
    )

    async def scenario():
        async with Client(params) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            return tools, await client.call_tool("get_accounts", {})

    tools, accounts = anyio.run(scenario)

    assert tools == set(BANK_TOOLS)
    assert not accounts.is_error
    ids = {a["id"] for a in accounts.structured_content["accounts"]}
    assert ids == {str(a.pk) for a in Account.objects.filter(user_id="test")}


def test_mcp_serve_refuses_unknown_and_inactive_users(bank):
    get_user_model().objects.filter(username="alice").update(is_active=False)
    for username in ("nobody", "alice"):
        with pytest.raises(CommandError, match="no active user"):
            call_command("mcp_serve", user=username)
