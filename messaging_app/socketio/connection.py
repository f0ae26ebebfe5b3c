"""One Socket.IO client on this instance: what it has joined, its timers, and how to send to it."""

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder

from chatbackend import shutdown
from messaging_app.events import group_refresh_seconds, session_group

if TYPE_CHECKING:
    from messaging_app.socketio.server import ChatSocketIO

CONTRACT = "contract"  # chat:message, session:join, chat:typing ... (seed README, CONTRACT.md)
ORIGINAL = "original"  # sendMessage, joinSession, typing ... (the Node service's code)

logger = logging.getLogger(__name__)


def json_native(data: Any) -> Any:
    """JSON-native data (UUIDs, datetimes, Decimals as the REST API writes them)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def json_finite(value: Any) -> bool:
    """False when a decoded payload holds NaN or ±Infinity.

    Python's json (python-socketio's decoder) accepts them, and 1e400 decodes as Infinity,
    but they are not JSON: whatever echoes them (pong's `ts`, stored metadata read back) would
    send browsers text JSON.parse refuses. Iterative, so deep nesting cannot exhaust the stack.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


@dataclass(eq=False)
class Connection:
    """One Socket.IO client on this instance."""

    server: "ChatSocketIO"
    sid: str
    user: Any = None
    channel: str | None = None
    # session id -> the vocabularies it was joined with (CONTRACT, ORIGINAL or both)
    joined: dict[str, set[str]] = field(default_factory=dict)
    # Joined sessions of other users (so joined as staff): the staff flag can be taken away, or
    # the account deactivated, while the socket is open, so these are re-checked before each
    # delivery (delivery.still_visible). A user's own sessions stay theirs.
    others: set[str] = field(default_factory=set)
    typing_timers: dict[str, asyncio.Task] = field(default_factory=dict)
    # Sessions this socket has been sent `sessionEnded` for: the ender's direct answer and the
    # fan-out of the same change race, and the socket must hear it once.
    ended: set[str] = field(default_factory=set)
    # reader, group refresh, auth deadline, greeting
    tasks: list[asyncio.Task] = field(default_factory=list)
    token_expiry: asyncio.Task | None = None  # disconnects when the access token expires
    inbound: shutdown.Inbound = field(default_factory=shutdown.Inbound)

    async def drain(self) -> None:
        """Server shutdown (chatbackend.shutdown): see ChatSocketIO.drain."""
        await self.server.drain(self)

    async def join(self, session_id: str, vocabulary: str, *, owner: str | None = None) -> bool:
        """Hear `session_id`'s fan-out in `vocabulary`; False when the channel layer refused
        (Redis down): the socket has not joined, and a later join tries again."""
        vocabularies = self.joined.get(session_id)
        if vocabularies is None:
            try:
                await get_channel_layer().group_add(session_group(session_id), self.channel)
            except Exception as exc:  # fan-out degraded; sends and catch-up still work
                logger.warning("group_add failed: %s", exc.__class__.__name__)
                return False
            vocabularies = self.joined[session_id] = set()
        vocabularies.add(vocabulary)
        if owner is not None and owner != self.user.get_username():
            self.others.add(session_id)
        return True

    async def keep_groups_joined(self) -> None:
        """Runs as long as the socket: re-adds its groups before channels-redis expires them."""
        interval = group_refresh_seconds(get_channel_layer())
        while True:
            await asyncio.sleep(interval)
            await self.refresh_groups()

    async def refresh_groups(self) -> None:
        layer = get_channel_layer()
        for session_id in list(self.joined):
            try:
                await layer.group_add(session_group(session_id), self.channel)
            except Exception as exc:
                # Redis down: ResilientRedisChannelLayer adds its memberships back once it
                # answers again, and the next round refreshes them anyway.
                logger.warning("group refresh failed: %s", exc.__class__.__name__)
                return
            if session_id not in self.joined:  # left while the add was on its way: undo it
                await self.leave(session_id)

    async def leave(self, session_id: str) -> None:
        self.joined.pop(session_id, None)
        self.others.discard(session_id)
        try:
            await get_channel_layer().group_discard(session_group(session_id), self.channel)
        except Exception as exc:  # Redis gone: its groups expire by themselves
            logger.warning("group_discard failed: %s", exc.__class__.__name__)

    def first_end_notice(self, session_id: str) -> bool:
        if session_id in self.ended:
            return False
        self.ended.add(session_id)
        return True

    async def emit(self, event: str, data: Any) -> Any:
        data = json_native(data)
        await self.server.sio.emit(event, data, to=self.sid)
        return data

    async def emit_error(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        details: Any = None,
        client_message_id: Any = None,
    ) -> dict:
        body = {"code": code, "message": message, "retryable": retryable, "details": details or {}}
        if "retryAfter" in body["details"]:  # rate_limited: as the native WebSocket sends it
            body["retryAfter"] = body["details"]["retryAfter"]
        if isinstance(client_message_id, str):
            body["clientMessageId"] = client_message_id
        return {"error": await self.emit("error", body)}
