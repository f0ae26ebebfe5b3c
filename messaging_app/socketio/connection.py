"""One Socket.IO client on this instance: what it has joined, its timers, and how to send to it."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

from chatbackend import shutdown

if TYPE_CHECKING:
    from messaging_app.socketio.server import ChatSocketIO

CONTRACT = "contract"  # chat:message, session:join, chat:typing ... (seed README, CONTRACT.md)
ORIGINAL = "original"  # sendMessage, joinSession, typing ... (the Node service's code)


def json_native(data: Any) -> Any:
    """JSON-native data (UUIDs, datetimes, Decimals as the REST API writes them)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


@dataclass(eq=False)
class Connection:
    """One Socket.IO client on this instance."""

    server: "ChatSocketIO"
    sid: str
    user: Any = None
    channel: str | None = None
    # session id -> the vocabularies it was joined with (CONTRACT, ORIGINAL or both)
    joined: dict[str, set[str]] = field(default_factory=dict)
    typing_timers: dict[str, asyncio.Task] = field(default_factory=dict)
    # Sessions this socket has been sent `sessionEnded` for: the ender's direct answer and the
    # fan-out of the same change race, and the socket must hear it once.
    ended: set[str] = field(default_factory=set)
    tasks: list[asyncio.Task] = field(default_factory=list)  # reader, auth deadline, greeting
    token_expiry: asyncio.Task | None = None  # disconnects when the access token expires
    inbound: shutdown.Inbound = field(default_factory=shutdown.Inbound)

    async def drain(self) -> None:
        """Server shutdown (chatbackend.shutdown): see ChatSocketIO.drain."""
        await self.server.drain(self)

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
