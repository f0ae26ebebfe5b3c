"""The bank's MCP server: seven tools over one user's accounts and cards, served over
Streamable HTTP at /mcp (JWT), over stdio (`manage.py mcp_serve`) and in-process (McpAgent).

Every tool acts for exactly one user: the one the transport authenticated and bound with
`acting_for`. Reads go through agents_app.selectors and writes through agents_app.services,
so MCP answers and audits exactly like the chat agents do.
"""

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection
from django.http.request import split_domain_port, validate_host
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from agents_app import selectors, services
from agents_app.models import Account, BankTransaction, Card, Transfer
from chatbackend.auth import TokenRejected, bearer_token, user_for_access_token
from chatbackend.errors import ServiceError
from chatbackend.ws_security import origin_allowed

logger = logging.getLogger(__name__)

AccountKind = Literal["checking", "savings", "credit"]


# --- Who the tools act for ------------------------------------------------------------------
# The same pattern as the SDK's own auth context: the transport that authenticated the caller
# binds the user for the lifetime of that connection (one HTTP request, one in-process call,
# one stdio process). Tasks and sync_to_async threads inherit it; a tool that finds nobody
# bound refuses instead of guessing.
_acting_user: ContextVar[str | None] = ContextVar("mcp_acting_user", default=None)


@contextmanager
def acting_for(user_id: str) -> Iterator[None]:
    """Bind the user whose data the bank tools may read and change."""
    token = _acting_user.set(user_id)
    try:
        yield
    finally:
        _acting_user.reset(token)


def _current_user() -> str:
    user_id = _acting_user.get()
    if not user_id:
        raise ToolError("not authenticated")
    return user_id


async def _orm(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Run ORM code in a worker thread, turning domain errors into tool errors.

    Not thread_sensitive: the in-process McpAgent may call us from inside Django's
    thread-sensitive worker, which would then wait on itself. The connection is closed in
    that thread afterwards, which hands it back to the pool instead of leaking it there.
    """

    def run() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connection.close()

    try:
        return await sync_to_async(run, thread_sensitive=False)()
    except ServiceError as exc:
        # The service's message is written for people and says nothing about other users'
        # data: another user's account reads exactly like one that does not exist.
        raise ToolError(f"{exc.code}: {exc.message}") from None


# --- Output shapes (they become each tool's outputSchema) ----------------------------------
class AccountOut(BaseModel):
    id: str
    type: AccountKind
    name: str
    last4: str
    balance: str = Field(description="decimal string; negative on a credit account means owed")
    available: str = Field(description="decimal string: balance plus any credit limit")
    currency: str

    @classmethod
    def of(cls, account: Account) -> "AccountOut":
        return cls(
            id=str(account.pk),
            type=account.account_type,
            name=account.name,
            last4=account.number_last4,
            balance=str(account.balance),
            available=str(account.available),
            currency=account.currency,
        )


class AccountList(BaseModel):
    accounts: list[AccountOut]


class TransactionOut(BaseModel):
    id: str
    account_id: str
    amount: str = Field(description="decimal string; negative is money out")
    currency: str
    description: str
    counterparty: str
    category: str
    booked_at: str


class TransactionList(BaseModel):
    transactions: list[TransactionOut]


class TransferOut(BaseModel):
    id: str
    from_account_id: str
    to_account_id: str | None
    payee: str
    amount: str
    currency: str
    reference: str
    created_at: str


class CardOut(BaseModel):
    id: str
    type: str
    last4: str
    status: Literal["active", "blocked"]
    expires: str
    account_id: str

    @classmethod
    def of(cls, card: Card) -> "CardOut":
        return cls(
            id=str(card.pk),
            type=card.card_type,
            last4=card.last4,
            status=card.status,
            expires=card.expires,
            account_id=str(card.account_id),
        )


class CardList(BaseModel):
    cards: list[CardOut]


def _transaction_out(txn: BankTransaction) -> TransactionOut:
    return TransactionOut(
        id=str(txn.pk),
        account_id=str(txn.account_id),
        amount=str(txn.amount),
        currency=txn.currency,
        description=txn.description,
        counterparty=txn.counterparty,
        category=txn.category,
        booked_at=txn.booked_at.isoformat(),
    )


def _transfer_out(transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=str(transfer.pk),
        from_account_id=str(transfer.from_account_id),
        to_account_id=str(transfer.to_account_id) if transfer.to_account_id else None,
        payee=transfer.payee,
        amount=str(transfer.amount),
        currency=transfer.currency,
        reference=transfer.reference,
        created_at=transfer.created_at.isoformat(),
    )


# --- Synchronous bodies (run in a worker thread by _orm) ------------------------------------
def _accounts(*, user_id: str) -> AccountList:
    return AccountList(
        accounts=[AccountOut.of(a) for a in selectors.accounts_for_user(user_id=user_id)]
    )


def _balance(*, user_id: str, account_id: str | None, account_type: str | None) -> AccountOut:
    if account_id is None and account_type is None:
        account_type = "checking"
    account = selectors.account_for_user(
        user_id=user_id, account_id=account_id, account_type=account_type
    )
    return AccountOut.of(account)


def _transactions(
    *,
    user_id: str,
    account_id: str | None,
    account_type: str | None,
    limit: int,
    start_date: date | None,
    end_date: date | None,
) -> TransactionList:
    account = None
    if account_id is not None or account_type is not None:
        account = selectors.account_for_user(
            user_id=user_id, account_id=account_id, account_type=account_type
        )
    rows = selectors.transactions_for_user(
        user_id=user_id, account=account, start=start_date, end=end_date, limit=limit
    )
    return TransactionList(transactions=[_transaction_out(t) for t in rows])


def _cards(*, user_id: str) -> CardList:
    return CardList(cards=[CardOut.of(c) for c in selectors.cards_for_user(user_id=user_id)])


# --- The server -----------------------------------------------------------------------------
bank_mcp: MCPServer = MCPServer(
    "bank",
    instructions=(
        "Tools over the signed-in customer's own bank accounts and cards. Amounts are decimal "
        "strings. Pass an idempotency_key to create_transfer so a retry never pays twice."
    ),
)
_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)


@bank_mcp.tool(annotations=_READ)
async def get_accounts() -> AccountList:
    """List the customer's accounts with balances."""
    return await _orm(_accounts, user_id=_current_user())


@bank_mcp.tool(annotations=_READ)
async def get_balance(
    account_id: str | None = None, account_type: AccountKind | None = None
) -> AccountOut:
    """Balance of one account, by id or type (checking when neither is given)."""
    return await _orm(
        _balance, user_id=_current_user(), account_id=account_id, account_type=account_type
    )


@bank_mcp.tool(annotations=_READ)
async def get_transactions(
    account_id: str | None = None,
    account_type: AccountKind | None = None,
    limit: Annotated[int, Field(ge=1, le=selectors.MAX_TRANSACTIONS)] = 10,
    start_date: date | None = None,
    end_date: date | None = None,
) -> TransactionList:
    """Recent transactions, newest first, optionally for one account and a date range."""
    return await _orm(
        _transactions,
        user_id=_current_user(),
        account_id=account_id,
        account_type=account_type,
        limit=limit,
        start_date=start_date,
        end_date=end_date,
    )


@bank_mcp.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=False))
async def create_transfer(
    from_account_id: str,
    amount: Annotated[Decimal, Field(description="positive, at most two decimals")],
    to_account_id: str | None = None,
    payee: str = "",
    reference: str = "",
    idempotency_key: Annotated[str | None, Field(max_length=200)] = None,
) -> TransferOut:
    """Move money from one of the customer's accounts to another of theirs or to a payee."""
    user_id = _current_user()
    transfer = await _orm(
        services.transfer_create,
        actor=f"mcp:{user_id}",
        user_id=user_id,
        from_account_id=from_account_id,
        to_account_id=to_account_id,
        amount=amount,
        payee=payee,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    return _transfer_out(transfer)


@bank_mcp.tool(annotations=_READ)
async def get_cards() -> CardList:
    """List the customer's cards and whether each is blocked."""
    return await _orm(_cards, user_id=_current_user())


async def _set_card_status(*, blocked: bool, card_id: str | None, last4: str | None) -> CardOut:
    user_id = _current_user()
    card = await _orm(
        services.card_set_status,
        actor=f"mcp:{user_id}",
        user_id=user_id,
        blocked=blocked,
        card_id=card_id,
        last4=last4,
    )
    return CardOut.of(card)


@bank_mcp.tool(annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True))
async def block_card(card_id: str | None = None, last4: str | None = None) -> CardOut:
    """Block one of the customer's cards, by id or last four digits."""
    return await _set_card_status(blocked=True, card_id=card_id, last4=last4)


@bank_mcp.tool(annotations=ToolAnnotations(destructive_hint=False, idempotent_hint=True))
async def unblock_card(card_id: str | None = None, last4: str | None = None) -> CardOut:
    """Unblock one of the customer's cards, by id or last four digits."""
    return await _set_card_status(blocked=False, card_id=card_id, last4=last4)


BANK_TOOLS: tuple[str, ...] = (
    "get_accounts",
    "get_balance",
    "get_transactions",
    "create_transfer",
    "get_cards",
    "block_card",
    "unblock_card",
)


# --- Transports -----------------------------------------------------------------------------
async def run_stdio(user_id: str) -> None:
    """Serve the bank tools for one user over stdin/stdout."""
    with acting_for(user_id):
        await bank_mcp.run_stdio_async()


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return bearer_token(value)
    return None


def _authenticated_user_id(raw: str | None) -> str | None:
    try:
        return user_for_access_token(raw).get_username()
    except TokenRejected:
        return None
    finally:
        connection.close()


async def _error(
    send: Send, status: int, code: str, message: str, *headers: tuple[bytes, bytes]
) -> None:
    """The contract's error body, for answers given before the MCP SDK sees the request."""
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def mcp_http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Streamable HTTP endpoint: authenticate the Bearer JWT, then serve one stateless request.

    daphne sends no ASGI lifespan events, so nothing can be started once at boot: each request
    gets its own stateless session manager (task group and all), which is cheap, and JSON
    responses instead of SSE streams. Stateless also means a request can land on any instance.
    """
    if scope["type"] != "http":
        return
    refusal = _transport_refusal(scope)
    if refusal is not None:
        await _error(send, *refusal)
        return
    # The token is only ever passed along, never logged.
    try:
        user_id = await sync_to_async(_authenticated_user_id, thread_sensitive=False)(
            _bearer_token(scope)
        )
    except DatabaseError:
        message = "The service is temporarily unavailable"
        await _error(send, 503, "service_unavailable", message, (b"retry-after", b"5"))
        return
    if user_id is None:
        message = "A valid Bearer access token is required"
        await _error(send, 401, "unauthorized", message, (b"www-authenticate", b"Bearer"))
        return
    if scope["method"] != "POST":
        # Stateless: no session to resume or end, and nothing the server would push on a GET
        # stream, which would otherwise stay open (and hold a task) until the client leaves.
        message = "MCP over Streamable HTTP here is POST only"
        await _error(send, 405, "method_not_allowed", message, (b"allow", b"POST"))
        return
    body = await _bounded_body(receive)
    if body is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        await _error(send, 413, "payload_too_large", f"Requests are limited to {limit} bytes")
        return
    manager = StreamableHTTPSessionManager(
        # The SDK has no public accessor for the low-level server yet (its own Client reads
        # this attribute the same way).
        bank_mcp._lowlevel_server,
        stateless=True,
        json_response=True,
    )
    with acting_for(user_id):
        async with manager.run():
            await manager.handle_request(scope, _replaying(body, receive), send)


# /mcp is routed before Django (chatbackend/asgi.py), so the checks Django's stack makes for
# every other HTTP path are made here: the Host header against ALLOWED_HOSTS, a browser's
# Origin against ALLOWED_ORIGINS (the WebSocket endpoints' policy), and the body size limit.


def _transport_refusal(scope: Scope) -> tuple[int, str, str] | None:
    """(status, code, message) when the request must be refused before reading it."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    host = split_domain_port(headers.get("host", ""))[0]
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        return 400, "bad_request", "Invalid Host header"
    if not origin_allowed(headers.get("origin")):
        return 403, "forbidden", "This origin may not call the MCP server"
    return None


async def _bounded_body(receive: Receive) -> bytes | None:
    """The whole request body, or None once it passes DATA_UPLOAD_MAX_MEMORY_SIZE."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # the client left; the SDK will see the disconnect
        body += message.get("body", b"")
        if len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return None
        if not message.get("more_body"):
            return bytes(body)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the SDK the body already read, then the client's own events."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
