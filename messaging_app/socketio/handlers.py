"""One function per client event, in both vocabularies (docs/socketio.md).

Each takes the connection and the event's payload (always an object by then) and returns what
answers a Socket.IO acknowledgement; `ChatSocketIO` dispatches to them and turns ServiceError and
database errors into `error` events. Database work goes through `orm`, the consumers' thread
pool, one call per event.
"""

import asyncio
import logging

from django.conf import settings
from django.utils import timezone

from chatbackend.auth import user_reloaded
from chatbackend.errors import ValidationFailed

# The native consumer's per-event glue (validate, call one service, serialize), reused so that
# both transports answer chat:message / chat:history / session:join identically.
from messaging_app import realtime
from messaging_app.api.serializers import MessageOutput
from messaging_app.events import publish_typing
from messaging_app.realtime import orm
from messaging_app.selectors import history_tail
from messaging_app.socketio.connection import CONTRACT, ORIGINAL, Connection, json_native
from messaging_app.socketio.delivery import session_ended_body
from sessions_app.api.serializers import SessionOutput
from sessions_app.selectors import session_get
from sessions_app.services import session_create, session_end

logger = logging.getLogger(__name__)

SESSION_JOINED_HISTORY = 50


# --- one service call per event, run through `orm` -------------------------------------------
def _optional_str(data: dict, name: str, max_length: int) -> str | None:
    value = data.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > max_length):
        raise ValidationFailed(
            f"{name} must be a string of at most {max_length} characters", details={"field": name}
        )
    return value


# A user id is a Django username: up to 150 characters, as REST's userId (docs/decisions.md).
USER_ID_MAX_LENGTH = 150


def _create_session(user, data: dict) -> dict:
    session = session_create(
        actor=user_reloaded(user),
        user_id=_optional_str(data, "userId", USER_ID_MAX_LENGTH),
        metadata=data.get("metadata"),
    )
    return SessionOutput(session).data


def _join_with_history(user, data: dict) -> dict:
    session = session_get(actor=user_reloaded(user), session_id=data.get("sessionId"))
    history = history_tail(session=session, count=SESSION_JOINED_HISTORY)
    return {
        "sessionId": str(session.pk),
        "session": SessionOutput(session).data,
        "history": MessageOutput(history, many=True).data,
    }


def _end_session(user, data: dict) -> dict:
    session = session_end(
        actor=user_reloaded(user),
        session_id=data.get("sessionId"),
        reason=_optional_str(data, "reason", 255),
    )
    return SessionOutput(session).data


# --- the events ------------------------------------------------------------------------------
async def on_ping(conn: Connection, data: dict):
    body = {"ts": data.get("ts"), "timestamp": timezone.now()}
    return await conn.emit("pong", body)


async def on_chat_message(conn: Connection, data: dict):
    body = await orm(realtime.send)(conn.user, data, conn.channel)
    await _join(conn, body["sessionId"], CONTRACT)
    await conn.emit("chat:ack", realtime.ack(body))
    body.pop("replayed")
    # `content` at the top as well: the seed's frontends read `data.content`.
    response = body["response"]
    body["content"] = response["content"] if response else None
    return await conn.emit("chat:response", body)


async def on_chat_history(conn: Connection, data: dict):
    body = await orm(realtime.history)(conn.user, data)
    return await conn.emit("chat:history", body)


async def on_session_join(conn: Connection, data: dict):
    session = await orm(realtime.join)(conn.user, data)
    if refused := await _join(conn, session["sessionId"], CONTRACT, session["userId"]):
        return refused
    # Read again once joined, as /ws/chat/ does: nothing committed in between is missed.
    session = await _read_once_joined(conn, realtime.join, session["sessionId"])
    return await conn.emit("session:updated", {"session": session, "joined": True})


async def on_chat_typing(conn: Connection, data: dict):
    await _typing(conn, data, data.get("isTyping") is True)
    return {"sessionId": str(data.get("sessionId")), "isTyping": data.get("isTyping") is True}


async def on_create_session(conn: Connection, data: dict):
    session = await orm(_create_session)(conn.user, data)
    await _join(conn, session["sessionId"], ORIGINAL, session["userId"])
    body = {"sessionId": session["sessionId"], "session": session}
    return await conn.emit("sessionCreated", body)


async def on_join_session(conn: Connection, data: dict):
    # The ownership check first, the snapshot and history once joined: a message or status
    # change committed in between is in them rather than lost between the two.
    session = await orm(realtime.join)(conn.user, data)
    if refused := await _join(conn, session["sessionId"], ORIGINAL, session["userId"]):
        return refused
    body = await _read_once_joined(conn, _join_with_history, session["sessionId"])
    return await conn.emit("sessionJoined", body)


async def on_send_message(conn: Connection, data: dict):
    body = await orm(realtime.send)(conn.user, data, conn.channel)
    replayed = body.pop("replayed")
    session_id, message, response = body["sessionId"], body["message"], body["response"]
    await _join(conn, session_id, ORIGINAL)
    await conn.emit(
        "messageReceived",
        {
            "sessionId": session_id,
            "message": message,
            "clientMessageId": message["client_message_id"],
            "replayed": replayed,
        },
    )
    if response is not None:  # None while a person, not the bot, answers (hand-off)
        await conn.emit(
            "newMessage",
            {"sessionId": session_id, "message": response, "agent": body["agent"]},
        )
    return json_native(body)


async def on_typing(conn: Connection, data: dict):
    await _typing(conn, data, True)
    return {"sessionId": str(data.get("sessionId")), "isTyping": True}


async def on_stop_typing(conn: Connection, data: dict):
    await _typing(conn, data, False)
    return {"sessionId": str(data.get("sessionId")), "isTyping": False}


async def on_end_session(conn: Connection, data: dict):
    session = await orm(_end_session)(conn.user, data)
    body = session_ended_body(session)
    if conn.first_end_notice(session["sessionId"]):
        await conn.emit("sessionEnded", body)
    return json_native(body)


EVENT_HANDLERS = {
    "ping": on_ping,
    # seed README / contract
    "chat:message": on_chat_message,
    "chat:history": on_chat_history,
    "session:join": on_session_join,
    "chat:typing": on_chat_typing,
    # the original service's code
    "createSession": on_create_session,
    "joinSession": on_join_session,
    "sendMessage": on_send_message,
    "typing": on_typing,
    "stopTyping": on_stop_typing,
    "endSession": on_end_session,
}


# --- helpers ---------------------------------------------------------------------------------
async def _read_once_joined(conn: Connection, read, session_id: str) -> dict:
    """What a join answers with, read after the socket joined; if that read fails (the user
    may no longer see the session, or the database is away) the socket leaves again."""
    try:
        return await orm(read)(conn.user, {"sessionId": session_id})
    except Exception:
        await conn.leave(session_id)
        raise


async def _join(
    conn: Connection, session_id: str, vocabulary: str, owner: str | None = None
) -> dict | None:
    """Join `session_id`'s fan-out; `owner` is the session's user (None after a send, which
    only the owner may make). When the channel layer refuses (Redis down), the client is told
    with a retryable `join_failed` error, which is returned for the events whose point was
    joining: their acknowledgement carries it instead of a success it did not have."""
    if await conn.join(session_id, vocabulary, owner=owner):
        return None
    return await conn.emit_error(
        "join_failed",
        "Live updates for this session are unavailable right now; join it again shortly",
        retryable=True,
        details={"sessionId": session_id},
    )


async def _typing(conn: Connection, data: dict, is_typing: bool) -> None:
    session_id = str(data.get("sessionId"))
    if session_id not in conn.joined:
        raise ValidationFailed("Join the session before typing in it", code="not_joined")
    timer = conn.typing_timers.pop(session_id, None)
    if timer is not None:
        timer.cancel()
    await broadcast_typing(conn, session_id, is_typing)
    if is_typing:
        # Indicators are not stored and stop by themselves if the client goes quiet.
        conn.typing_timers[session_id] = asyncio.create_task(_stop_typing_later(conn, session_id))


async def _stop_typing_later(conn: Connection, session_id: str) -> None:
    await asyncio.sleep(settings.WS_TYPING_TIMEOUT_SECONDS)
    conn.typing_timers.pop(session_id, None)
    await broadcast_typing(conn, session_id, False)


async def broadcast_typing(conn: Connection, session_id: str, is_typing: bool) -> None:
    await orm(publish_typing)(
        session_id=session_id,
        user_id=conn.user.get_username(),
        is_typing=is_typing,
        origin=conn.channel,
    )
