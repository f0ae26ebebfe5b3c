"""Channel-layer events out: what any transport on any instance publishes to a session's group
reaches this socket as Socket.IO events, in the vocabulary it joined the session with."""

import asyncio
import logging

from channels.layers import get_channel_layer

from messaging_app.socketio.connection import CONTRACT, ORIGINAL, Connection

logger = logging.getLogger(__name__)

CLOSED_STATUSES = frozenset({"resolved", "terminated"})


def session_ended_body(session: dict) -> dict:
    return {
        "sessionId": session["sessionId"],
        "session": session,
        "reason": session.get("endedReason"),
    }


async def forward_channel_events(conn: Connection) -> None:
    """Forward this socket's channel-layer events to it until it disconnects."""
    layer = get_channel_layer()
    while True:
        try:
            event = await layer.receive(conn.channel)
        except Exception as exc:  # Redis unreachable: keep the socket, retry shortly
            logger.warning("channel-layer receive failed: %s", exc.__class__.__name__)
            await asyncio.sleep(1)
            continue
        try:
            await deliver(conn, event)
        except Exception:
            logger.exception("delivering %s failed", event.get("type"))


async def deliver(conn: Connection, event: dict) -> None:
    kind = event.get("type")
    if kind == "session.updated":
        session = event["session"]
        session_id = session["sessionId"]
        if session_id not in conn.joined:
            return
        await conn.emit("session:updated", {"session": session})
        if (
            ORIGINAL in conn.joined[session_id]
            and session.get("status") in CLOSED_STATUSES
            and conn.first_end_notice(session_id)
        ):
            await conn.emit("sessionEnded", session_ended_body(session))
        return
    session_id = event.get("sessionId")
    vocabularies = conn.joined.get(session_id, set())
    if event.get("origin") == conn.channel:
        return  # the sender has its direct answer already
    if kind == "chat.messages":
        for message in event["messages"]:
            body = {"sessionId": session_id, "message": message}
            if CONTRACT in vocabularies:
                await conn.emit("chat:message", body)
            if ORIGINAL in vocabularies:
                await conn.emit("newMessage", body)
    elif kind == "chat.typing":
        user_id, is_typing = event["userId"], event["isTyping"]
        if CONTRACT in vocabularies:
            body = {"sessionId": session_id, "userId": user_id, "isTyping": is_typing}
            await conn.emit("chat:typing", body)
        if ORIGINAL in vocabularies:
            name = "userTyping" if is_typing else "userStoppedTyping"
            await conn.emit(name, {"sessionId": session_id, "userId": user_id})
