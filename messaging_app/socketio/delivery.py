"""Channel-layer events out: what any transport on any instance publishes to a session's group
reaches this socket as Socket.IO events, in the vocabulary it joined the session with."""

import asyncio
import logging

from channels.layers import get_channel_layer

from chatbackend.auth import TokenRejected
from messaging_app import realtime
from messaging_app.realtime import orm
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


async def still_visible(conn: Connection, session_id: str) -> bool:
    """Whether the socket's user may still see another user's session it joined as staff.

    Checked before each delivery, not only at the socket's next event: staff who lose the flag
    (or their account) must stop hearing customers at once, also on a socket that only listens.
    A session no longer visible is left; a deactivated account is signed out. The same check
    as /ws/chat/'s (realtime.visible_sessions).
    """
    try:
        conn.user, visible = await orm(realtime.visible_sessions)(conn.user, [session_id])
    except TokenRejected:
        conn.server.sign_out_later(conn)
        return False
    except Exception as exc:  # database away: withhold rather than deliver unchecked
        logger.warning("delivery check failed: %s", exc.__class__.__name__)
        return False
    if session_id not in visible:
        await conn.leave(session_id)
        return False
    return True


async def deliver(conn: Connection, event: dict) -> None:
    kind = event.get("type")
    if kind == "session.updated":
        session_id = event["session"]["sessionId"]
    else:
        session_id = event.get("sessionId")
    if session_id not in conn.joined or event.get("origin") == conn.channel:
        return  # not joined, or the sender, which has its direct answer already
    if session_id in conn.others and not await still_visible(conn, session_id):
        return
    if kind == "session.updated":
        session = event["session"]
        await conn.emit("session:updated", {"session": session})
        if (
            ORIGINAL in conn.joined[session_id]
            and session.get("status") in CLOSED_STATUSES
            and conn.first_end_notice(session_id)
        ):
            await conn.emit("sessionEnded", session_ended_body(session))
        return
    vocabularies = conn.joined[session_id]
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
