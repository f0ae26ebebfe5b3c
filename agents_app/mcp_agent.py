"""The MCP agent: answers tool-style requests (`/get_balance savings`) by calling MCP tools,
on the bank's own server in-process and on further servers listed in settings.MCP_SERVERS."""

import asyncio
import json
import logging
import re
import shlex
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from django.conf import settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from agents_app.mcp_server import BANK_TOOLS, acting_for, bank_mcp
from agents_app.models import AccountType

logger = logging.getLogger(__name__)

BANK = "bank"

# `/tool`, `/server.tool`, then optional arguments: a JSON object, key=value pairs, or one word.
_COMMAND = re.compile(
    r"^/(?:(?P<server>[A-Za-z][\w-]*)\.)?(?P<tool>[A-Za-z_][\w-]*)(?:\s+(?P<args>.+))?$",
    re.DOTALL,
)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    server: str = BANK


@dataclass(frozen=True)
class UnreadableCommand:
    """A known tool with arguments we could not read: worth telling the user, never guessing."""

    tool: str
    server: str = BANK


@dataclass(frozen=True)
class McpResult:
    server: str
    tool: str
    ok: bool
    data: Any = None  # the tool's structured JSON (or its text when a server sends none)
    error: str | None = None
    elapsed_ms: float = 0.0
    # Refused unrun: only read-only tools were allowed and the server does not declare this
    # one read-only (MCP's readOnlyHint).
    not_read_only: bool = False


@dataclass(frozen=True)
class RemoteServer:
    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class McpAgent:
    """Calls MCP tools for one user: the bank's tools in-process, other servers over HTTP."""

    name = "mcp"

    def __init__(self, *, servers: list[dict[str, Any]] | None = None, timeout: float = 3.0):
        configured = getattr(settings, "MCP_SERVERS", []) if servers is None else servers
        self.servers = {
            s["name"]: RemoteServer(
                name=s["name"], url=s["url"], headers=dict(s.get("headers") or {})
            )
            for s in configured
            if s["name"] != BANK
        }
        self.timeout = timeout

    # --- public, synchronous ----------------------------------------------------------------
    def parse_command(self, text: str) -> ToolCall | UnreadableCommand | None:
        """The call that tool-style text asks for (`/get_balance savings`, `/fx.convert {}`);
        `UnreadableCommand` for a known tool whose arguments make no sense; None for text that
        names no known tool."""
        match = _COMMAND.match(text.strip())
        if match is None:
            return None
        server, tool = match["server"] or BANK, match["tool"]
        if (server == BANK and tool not in BANK_TOOLS) or (
            server != BANK and server not in self.servers
        ):
            return None
        arguments = _parse_arguments(tool if server == BANK else "", match["args"] or "")
        if arguments is None:
            return UnreadableCommand(server=server, tool=tool)
        return ToolCall(server=server, tool=tool, arguments=arguments)

    def call_tool(self, *, user_id: str, call: ToolCall, read_only: bool = False) -> McpResult:
        """Call one tool for `user_id`; failures come back as ok=False, never as exceptions.

        With `read_only`, a tool its server does not declare read-only is refused unrun
        (`not_read_only`): the tools' own annotations are the one list of what changes data.

        Synchronous on purpose: the chat pipeline runs in a worker thread with no event loop,
        so the MCP client gets a short-lived loop of its own here. The bank's tools run on
        database connections of their own, outside the caller's transaction: what they write
        is committed by them, and rows the caller has locked would make them wait.
        """
        started = time.perf_counter()

        def done(**outcome: Any) -> McpResult:
            elapsed = (time.perf_counter() - started) * 1000
            return McpResult(server=call.server, tool=call.tool, elapsed_ms=elapsed, **outcome)

        if call.server != BANK and call.server not in self.servers:
            return done(ok=False, error=f"unknown MCP server {call.server!r}")
        try:
            result = _run(self._call(user_id, call, read_only))
        except Exception as exc:
            logger.warning("MCP call %s.%s failed: %s", call.server, call.tool, _describe(exc))
            return done(ok=False, error=_describe(exc))
        if result is None:
            return done(ok=False, error="not a read-only tool", not_read_only=True)
        if result.is_error:
            return done(ok=False, error=_text(result) or "tool failed")
        return done(ok=True, data=_data(result))

    def list_tools(self, *, user_id: str) -> dict[str, list[str]]:
        """Tool names per server, all asked at once; a server that does not answer lists none."""
        listing: dict[str, list[str]] = {server: [] for server in (BANK, *self.servers)}

        async def one(server: str) -> None:
            try:
                listing[server] = await self._tool_names(server, user_id)
            except Exception as exc:
                logger.warning("MCP server %s did not list its tools: %s", server, _describe(exc))

        async def every() -> None:
            async with anyio.create_task_group() as tg:
                for server in listing:
                    tg.start_soon(one, server)

        _run(every())
        return listing

    def is_up(self) -> bool:
        """Whether the bank's own tools answer (remote servers are extras, checked per call)."""
        try:
            names = _run(self._tool_names(BANK, ""))
        except Exception:
            return False
        return set(BANK_TOOLS) <= set(names)

    # --- async internals --------------------------------------------------------------------
    async def _tool_names(self, server: str, user_id: str) -> list[str]:
        with anyio.fail_after(self.timeout):
            async with self._session(server, user_id) as client:
                return [tool.name for tool in (await client.list_tools()).tools]

    async def _call(self, user_id: str, call: ToolCall, read_only: bool) -> CallToolResult | None:
        with anyio.fail_after(self.timeout):
            async with self._session(call.server, user_id) as client:
                if read_only and not await _declared_read_only(client, call.tool):
                    return None
                return await client.call_tool(call.tool, call.arguments)

    @asynccontextmanager
    async def _session(self, server: str, user_id: str) -> AsyncIterator[Client]:
        if server == BANK:
            # In-process: the SDK dispatches straight into the server, no sockets or framing.
            with acting_for(user_id):
                async with Client(bank_mcp) as client:
                    yield client
            return
        remote = self.servers[server]
        # Only the configured headers go out: the customer's own token never leaves the bank.
        async with (
            httpx2.AsyncClient(headers=remote.headers, timeout=self.timeout) as http,
            Client(streamable_http_client(remote.url, http_client=http)) as client,
        ):
            yield client


def _run[T](coro: Coroutine[Any, Any, T]) -> T:
    # A loop of our own, closed without joining its worker threads (asyncio.run would wait
    # for them): a tool stuck in the database past the timeout must not hold up the chat
    # turn that asked for it. The stuck thread still finishes and closes its connection.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        coro.close()  # a no-op once it ran; one refused (a loop already running) never starts
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _declared_read_only(client: Client, tool: str) -> bool:
    # readOnlyHint is what a server says of its own tools: ours and the configured ones are
    # trusted to tell the truth, and a tool that says nothing is taken to change data.
    listed = {t.name: t for t in (await client.list_tools()).tools}
    annotations = listed[tool].annotations if tool in listed else None
    return bool(annotations and annotations.read_only_hint)


def _parse_arguments(bank_tool: str, text: str) -> dict[str, Any] | None:
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep to read
            return None
        return value if isinstance(value, dict) else None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if all("=" in word for word in words):
        return dict(word.split("=", 1) for word in words)
    if len(words) == 1:
        return _bare_word(bank_tool, words[0])
    return None


def _bare_word(tool: str, word: str) -> dict[str, Any] | None:
    """What one bare word means for the bank's tools: an account type or id, a card's digits."""
    if tool in ("get_balance", "get_transactions"):
        key = "account_type" if word in AccountType.values else "account_id"
        return {key: word}
    if tool in ("block_card", "unblock_card"):
        return {"last4" if re.fullmatch(r"\d{4}", word) else "card_id": word}
    return None


def _text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


def _data(result: CallToolResult) -> Any:
    if result.structured_content is not None:
        return result.structured_content
    text = _text(result)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _describe(exc: BaseException) -> str:
    # Task groups wrap failures; the innermost one says what actually went wrong.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
