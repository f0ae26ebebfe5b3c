"""What a live client can do, independent of transport: `/ws/chat/` (consumers.py) and
`/socket.io/` (socketio/handlers.py) call these, each through one `database_sync_to_async` per
event, so both transports store, number, limit and answer exactly alike.

Each re-reads the socket's user first (`user_reloaded`), as a REST request does: a socket
outlives many requests, and a deactivated account or a staff flag taken away counts at once.
"""

import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError

from chatbackend.auth import TokenRejected, user_reloaded
from chatbackend.errors import ServiceError, ValidationFailed
from messaging_app.api.serializers import message_json, turn_json
from messaging_app.selectors import history_page
from messaging_app.services import chat_message_send
from sessions_app.api.serializers import SessionOutput
from sessions_app.selectors import session_get, sessions_visible_to

logger = logging.getLogger(__name__)


def _orm_threads() -> int:
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    return pool.get("max_size", 10) if isinstance(pool, dict) else 10


# Channels runs `database_sync_to_async` on one thread per process, so every socket's turn
# would wait behind every other socket's database round trips (row lock, insert, commit fsync,
# fan-out): 140-212 turns/s against 249-254 on this pool in the bench (docs/benchmarks.md).
# Different sockets' events run side by side on these threads, as many as the connection pool
# holds; each socket still handles its own frames one at a time, in order, and the session's
# row lock still orders the turns of one session.
_orm_executor = ThreadPoolExecutor(max_workers=_orm_threads(), thread_name_prefix="ws-orm")


def orm(func):
    """`database_sync_to_async` on the live transports' thread pool (both run their events here)."""
    return database_sync_to_async(func, thread_sensitive=False, executor=_orm_executor)


def history(user, data: dict) -> dict:
    user = user_reloaded(user)
    session = session_get(actor=user, session_id=data.get("sessionId"))
    limit, after_seq = data.get("limit", 50), data.get("afterSeq")
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise ValidationFailed("limit must be an integer", details={"field": "limit"})
    if after_seq is not None and (not isinstance(after_seq, int) or isinstance(after_seq, bool)):
        raise ValidationFailed("afterSeq must be an integer", details={"field": "afterSeq"})
    page = history_page(session=session, limit=limit, after_seq=after_seq)
    return {
        "sessionId": str(session.pk),
        "messages": [message_json(m) for m in page.messages],
        "hasMore": page.has_more,
    }


def join(user, data: dict) -> dict:
    user = user_reloaded(user)
    return SessionOutput(session_get(actor=user, session_id=data.get("sessionId"))).data


def visible_sessions(user, session_ids) -> tuple:
    """(the user as the database has it now, which of `session_ids` it may still see).

    A socket joined a session when it could see it; a staff flag taken away since must take
    other users' sessions from it, as it would on the next REST request. TokenRejected once
    the account is deactivated.
    """
    user = user_reloaded(user)
    ids = {str(session_id) for session_id in session_ids}
    if user.is_staff or not ids:
        return user, ids
    visible = sessions_visible_to(user).filter(pk__in=ids).values_list("pk", flat=True)
    return user, {str(pk) for pk in visible}


def send(user, data: dict, origin: str) -> dict:
    turn = chat_message_send(
        actor=user_reloaded(user),
        session_id=data.get("sessionId"),
        content=data.get("content", data.get("message")),
        message_type=data.get("type"),
        client_message_id=data.get("clientMessageId"),
        origin=origin,
    )
    return turn_json(turn) | {"replayed": turn.replayed}


def ack(body: dict) -> dict:
    """`chat:ack` for a stored turn (`send`'s result): ids and numbers of both messages."""
    message, response = body["message"], body["response"]
    return {
        "sessionId": body["sessionId"],
        "clientMessageId": message["client_message_id"],
        "messageId": message["message_id"],
        "sequenceNumber": message["sequence_number"],
        "responseMessageId": response["message_id"] if response else None,
        "responseSequenceNumber": response["sequence_number"] if response else None,
        "replayed": body["replayed"],
    }


async def reporting_errors(
    handling: Awaitable, send_error: Callable[..., Awaitable], *, event: str, data: dict
):
    """Await an event's handler; any exception but TokenRejected (the transport then closes
    the socket) becomes the transport's error event (`send_error(code, message, retryable=,
    details=, client_message_id=)`), and the socket stays open."""
    client_message_id = data.get("clientMessageId")
    try:
        return await handling
    except TokenRejected:
        raise  # the transport closes the socket: its user may no longer act
    except ServiceError as exc:
        return await send_error(
            exc.code,
            exc.message,
            retryable=exc.retryable,
            details=exc.details,
            client_message_id=client_message_id,
        )
    except Exception as exc:
        code, message, retryable = _fault(exc, event)
        return await send_error(
            code, message, retryable=retryable, client_message_id=client_message_id
        )


def _fault(exc: Exception, event: str) -> tuple[str, str, bool]:
    """What the client is told of an exception that is not a ServiceError: (code, message,
    retryable). Logged here, with the traceback when it is a bug of ours."""
    if isinstance(exc, OperationalError | InterfaceError):
        # Nothing was stored: the client may safely resend (with the same clientMessageId).
        logger.error("database unavailable during %s: %s", event, exc.__class__.__name__)
        return "service_unavailable", "The service cannot store messages right now", True
    if isinstance(exc, DataError):
        # A value our validation let through and PostgreSQL refused; nothing was stored.
        logger.warning("database refused a value during %s: %s", event, exc.__class__.__name__)
        return "validation_error", "A value in this request cannot be stored", False
    # A bug, not the client's fault: say so on this socket and keep it open for the next frame,
    # rather than drop every session the socket has joined.
    logger.exception("unexpected error during %s", event)
    return "internal_error", "Something went wrong on our side", False
