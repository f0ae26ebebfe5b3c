"""Fan-out to every socket joined to a session, on any instance (channels-redis groups).

Called only after the transaction that stored the message has committed. A failed broadcast
is logged and never fails the send: the message is stored, and clients catch up with
`chat:history` + `afterSeq`.
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)
GROUP_SEND_TIMEOUT_SECONDS = 2.0


def session_group(session_id) -> str:
    return f"chat.session.{session_id}"


async def _bounded_group_send(layer, group: str, event: dict) -> None:
    # Never let a stuck Redis hold the sender: its message is already committed.
    await asyncio.wait_for(layer.group_send(group, event), timeout=GROUP_SEND_TIMEOUT_SECONDS)


def _group_send(session_id, event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_bounded_group_send)(layer, session_group(session_id), event)
    except Exception as exc:  # Redis down, full or slow: stored anyway; catch-up delivers it
        logger.warning("broadcast to session %s failed: %s", session_id, exc.__class__.__name__)


def publish_messages(*, session_id, messages: list[dict], origin: str | None = None) -> None:
    """`chat:message` for each stored message, to every socket of the session but `origin`."""
    _group_send(
        session_id,
        {
            "type": "chat.messages",
            "sessionId": str(session_id),
            "messages": messages,
            "origin": origin,
        },
    )


def publish_session(*, session_json: dict) -> None:
    """`session:updated` after a status change (resolve, end, resume, hand-off, expiry)."""
    _group_send(session_json["sessionId"], {"type": "session.updated", "session": session_json})


def publish_typing(*, session_id, user_id: str, is_typing: bool, origin: str | None) -> None:
    _group_send(
        session_id,
        {
            "type": "chat.typing",
            "sessionId": str(session_id),
            "userId": user_id,
            "isTyping": is_typing,
            "origin": origin,
        },
    )


# channels-redis drops a group member `group_expiry` seconds (a day by default) after its
# group_add, without a word: a socket kept open by token renewal would simply stop receiving.
# Both live transports re-add their joins at this interval, well before that.
GROUP_REFRESH_SECONDS = 3600.0


def group_refresh_seconds(layer) -> float:
    expiry = getattr(layer, "group_expiry", None)
    return GROUP_REFRESH_SECONDS if expiry is None else min(GROUP_REFRESH_SECONDS, expiry / 4)
