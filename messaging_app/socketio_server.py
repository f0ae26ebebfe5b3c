"""Socket.IO at /socket.io/ for the original service's frontends (`io(url, {auth: {token}})`).

Same services, JWT check, rate limits and session groups as the native WebSocket
(`messaging_app.consumers`): each Socket.IO connection gets a channel-layer channel of its own,
joins `chat.session.<id>` groups with it, and a reader task turns channel-layer events into
Socket.IO events for that one socket. A message stored through any transport, on any instance,
reaches it the way it reaches a /ws/chat/ socket. python-socketio's rooms and client managers
carry nothing here: one fan-out path serves both transports.

Two vocabularies are served (docs/socketio.md): the seed README's and the contract's
(`chat:message` -> `chat:ack`, `chat:response`) and the original code's (`sendMessage` ->
`messageReceived`, `newMessage`). A socket is told about a session in the vocabulary it joined
it with, so a frontend never receives every event twice under two names.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import socketio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from chatbackend import shutdown
from chatbackend.connections import socket_closed, socket_opened
from chatbackend.errors import ServiceError, ValidationFailed
from chatbackend.ws_security import BrowserOriginValidator, authenticate_token, token_from_scope

# The native consumer's per-event glue (validate, call one service, serialize), reused so that
# both transports answer chat:message / chat:history / session:join identically.
from messaging_app import realtime
from messaging_app.api.serializers import MessageOutput
from messaging_app.consumers import DRAIN_QUIET_SECONDS
from messaging_app.events import publish_typing, session_group
from messaging_app.selectors import history_tail
from sessions_app.api.serializers import SessionOutput
from sessions_app.selectors import session_get
from sessions_app.services import session_create, session_end

logger = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io"
CONTRACT = "contract"  # chat:message, session:join, chat:typing ... (seed README, CONTRACT.md)
ORIGINAL = "original"  # sendMessage, joinSession, typing ... (the Node service's code)
CLOSED_STATUSES = frozenset({"resolved", "terminated"})
SESSION_JOINED_HISTORY = 50
DRAIN_CLOSE_WAIT_SECONDS = 2


def is_socketio_path(path: str) -> bool:
    return path == SOCKETIO_PATH or path.startswith(SOCKETIO_PATH + "/")


def origin_allowed(origin: str | None, environ: dict | None = None) -> bool:
    """The /ws/chat/ policy: a listed browser origin, or no Origin at all (native clients)."""
    # A callable rather than the list itself: python-socketio reads an empty list as "do not
    # check origins at all", while an empty ALLOWED_ORIGINS (production default) must refuse
    # every browser origin. Sharing Channels' matcher keeps both endpoints' patterns identical.
    try:
        parsed = urlparse(origin) if origin else None
    except ValueError:
        return False
    return BrowserOriginValidator(None, settings.ALLOWED_ORIGINS).valid_origin(parsed)


def _plain(data: Any) -> Any:
    """JSON-native data (UUIDs, datetimes, Decimals as the REST API writes them)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _token(auth: Any) -> str | None:
    raw = auth.get("token") if isinstance(auth, dict) else auth
    if not isinstance(raw, str) or not raw.strip():
        return None
    scheme, _, rest = raw.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else raw.strip()


# --- one service call per event, run through database_sync_to_async ---------------------------
def _optional_str(data: dict, name: str, max_length: int) -> str | None:
    value = data.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > max_length):
        raise ValidationFailed(
            f"{name} must be a string of at most {max_length} characters", details={"field": name}
        )
    return value


def _create_session(user, data: dict) -> dict:
    session = session_create(
        actor=user,
        user_id=_optional_str(data, "userId", 100),
        metadata=data.get("metadata"),
    )
    return SessionOutput(session).data


def _join_with_history(user, data: dict) -> dict:
    session = session_get(actor=user, session_id=data.get("sessionId"))
    history = history_tail(session=session, count=SESSION_JOINED_HISTORY)
    return {
        "sessionId": str(session.pk),
        "session": SessionOutput(session).data,
        "history": MessageOutput(history, many=True).data,
    }


def _end_session(user, data: dict) -> dict:
    session = session_end(
        actor=user, session_id=data.get("sessionId"), reason=_optional_str(data, "reason", 255)
    )
    return SessionOutput(session).data


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
    idle: asyncio.Event = field(default_factory=asyncio.Event)  # set while no event is handled
    last_event_at: float = field(default_factory=time.monotonic)
    closing: bool = False

    def __post_init__(self) -> None:
        self.idle.set()

    async def drain(self) -> None:
        """Server shutdown (chatbackend.shutdown): see ChatSocketIO.drain."""
        await self.server.drain(self)


class ChatSocketIO:
    """The Socket.IO server and its bridge to the channel layer."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins=origin_allowed,
            # One event at a time per socket, in order, like a Channels consumer: a user's
            # messages are numbered in the order sent, and a flooding client is slowed by its
            # own connection instead of piling up tasks.
            async_handlers=False,
            # A polling POST may carry several packets; message content itself is limited by
            # the service (2000 characters).
            max_http_buffer_size=4 * settings.WS_MAX_FRAME_BYTES,
            logger=False,
            engineio_logger=False,  # handshakes carry tokens; never log them
        )
        self.connections: dict[str, Connection] = {}
        self._closing: set[asyncio.Task] = set()
        self._release_polls_on_close()
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("*", self.on_event)
        self.handlers = {
            "authenticate": ChatSocketIO.on_authenticate,
            "ping": ChatSocketIO.on_ping,
            # seed README / contract
            "chat:message": ChatSocketIO.on_chat_message,
            "chat:history": ChatSocketIO.on_chat_history,
            "session:join": ChatSocketIO.on_session_join,
            "chat:typing": ChatSocketIO.on_chat_typing,
            # the original service's code
            "createSession": ChatSocketIO.on_create_session,
            "joinSession": ChatSocketIO.on_join_session,
            "sendMessage": ChatSocketIO.on_send_message,
            "typing": ChatSocketIO.on_typing,
            "stopTyping": ChatSocketIO.on_stop_typing,
            "endSession": ChatSocketIO.on_end_session,
        }

    def _release_polls_on_close(self) -> None:
        """Answer a polling client's pending GET as soon as its connection closes.

        python-engineio (4.15) handles a client's CLOSE without answering the long-poll GET that
        is still open, which then lingers for ping_interval + ping_timeout (45 s): a request
        held per departed client, and clients that wait for it (python-socketio's) hang as long.
        Node's engine.io answers it at once; so do we, by waking the socket's send queue.
        """
        eio = self.sio.eio
        socketio_handler = eio.handlers["disconnect"]

        async def on_engineio_disconnect(eio_sid, reason):
            try:
                await socketio_handler(eio_sid, reason)
            finally:
                socket = eio.sockets.get(eio_sid)
                # Only when the client closed: a close by the server queues a CLOSE packet,
                # which answers the pending GET by itself and must not be overtaken.
                if (
                    reason == eio.reason.CLIENT_DISCONNECT
                    and socket is not None
                    and not socket.upgraded
                ):
                    socket.queue.put_nowait(None)  # poll() returns no packets for None

        eio.on("disconnect", on_engineio_disconnect)

    # --- connection lifecycle ------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict, auth: Any = None):
        raw = _token(auth) or token_from_scope(environ.get("asgi.scope", {}))
        user = None
        if raw is not None:
            user = await authenticate_token(raw)
            if user is None:
                # CONNECT_ERROR: socket.io-client emits `connect_error` with this message/data.
                raise socketio.exceptions.ConnectionRefusedError(
                    "Invalid or expired token", {"code": "unauthorized"}
                )
        conn = self.connections[sid] = Connection(self, sid)
        socket_opened()
        shutdown.track(conn)
        if user is not None:
            await self._authenticated(conn, user)
        else:
            conn.tasks.append(asyncio.create_task(self._disconnect_unless_authenticated(conn)))
        return True

    async def _authenticated(self, conn: Connection, user) -> None:
        conn.user = user
        conn.channel = await get_channel_layer().new_channel()
        conn.tasks.append(asyncio.create_task(self._read(conn)))
        conn.tasks.append(asyncio.create_task(self._greet(conn)))

    async def _greet(self, conn: Connection) -> None:
        # The CONNECT packet goes out only after the connect handler returns, and some clients
        # drop events for a namespace they have not joined yet: greet once it is connected.
        for _ in range(200):
            if self.sio.manager.is_connected(conn.sid, "/"):
                break
            await asyncio.sleep(0.005)
        await self._emit(conn.sid, "connected", self._identity(conn))

    @staticmethod
    def _identity(conn: Connection) -> dict:
        return {"userId": conn.user.get_username(), "authenticated": True}

    async def _disconnect_unless_authenticated(self, conn: Connection) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if conn.user is None:
            await self._error(conn.sid, "unauthenticated", "No token was sent in time")
            await self.sio.disconnect(conn.sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        socket_closed()
        shutdown.untrack(conn)
        current = asyncio.current_task()
        for task in [*conn.tasks, *conn.typing_timers.values()]:
            if task is not current:  # the auth deadline may be what is disconnecting us
                task.cancel()
        for session_id in list(conn.typing_timers):
            # Nobody will send stopTyping for a socket that is gone.
            await self._publish_typing(conn, session_id, False)
        layer = get_channel_layer()
        for session_id in conn.joined:
            try:
                await layer.group_discard(session_group(session_id), conn.channel)
            except Exception as exc:  # Redis gone: its groups expire by themselves
                logger.warning("group_discard failed: %s", exc.__class__.__name__)

    async def drain(self, conn: Connection) -> None:
        """Answer every event already sent, then close the transport (not the Socket.IO
        session): socket.io-client then reconnects by itself, to an instance that is up."""
        while True:
            await conn.idle.wait()
            quiet_for = time.monotonic() - conn.last_event_at
            if quiet_for >= DRAIN_QUIET_SECONDS:
                break
            await asyncio.sleep(DRAIN_QUIET_SECONDS - quiet_for)
        conn.closing = True
        eio_sid = self.sio.manager.eio_sid_from_sid(conn.sid, "/")
        if eio_sid is None:
            return
        # A Socket.IO-level disconnect would tell the client not to reconnect.
        closing = asyncio.create_task(self.sio.eio.disconnect(eio_sid))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        # Engine.IO waits until the client has fetched the CLOSE, which a polling client that
        # left without a word never does: stop waiting rather than hold the shutdown up.
        await asyncio.wait({closing}, timeout=DRAIN_CLOSE_WAIT_SECONDS)

    # --- events in -----------------------------------------------------------------------------
    async def on_event(self, event: str, sid: str, *args):
        """Every client event; the return value answers a Socket.IO acknowledgement."""
        conn = self.connections.get(sid)
        if conn is None:
            return None
        conn.last_event_at = time.monotonic()
        if conn.closing:
            return await self._error(
                sid,
                "shutting_down",
                "This server is restarting; reconnect and resend",
                retryable=True,
            )
        conn.idle.clear()
        try:
            return await self._handle(conn, event, args)
        finally:
            conn.last_event_at = time.monotonic()
            conn.idle.set()

    async def _handle(self, conn: Connection, event: str, args: tuple):
        sid = conn.sid
        handler = self.handlers.get(event)
        if handler is None:
            return await self._error(sid, "unknown_event", f"Unknown event {event[:50]!r}")
        data = args[0] if args else None
        if isinstance(data, str):
            # The original's frontends often send the bare id (or token) instead of an object.
            data = {"token" if event == "authenticate" else "sessionId": data}
        elif data is None:
            data = {}
        if not isinstance(data, dict):
            return await self._error(sid, "invalid_payload", "The payload must be an object")
        if conn.user is None and event != "authenticate":
            return await self._error(sid, "unauthenticated", "Authenticate first")
        client_message_id = data.get("clientMessageId")
        try:
            return await handler(self, conn, data)
        except ServiceError as exc:
            return await self._error(
                sid,
                exc.code,
                exc.message,
                retryable=exc.retryable,
                details=exc.details,
                client_message_id=client_message_id,
            )
        except (OperationalError, InterfaceError) as exc:
            # Nothing was stored: the client may safely resend (with the same clientMessageId).
            logger.error("database unavailable during %s: %s", event, exc.__class__.__name__)
            return await self._error(
                sid,
                "service_unavailable",
                "The service cannot store messages right now",
                retryable=True,
                client_message_id=client_message_id,
            )
        except Exception:
            logger.exception("Socket.IO event %s failed", event)
            return await self._error(sid, "internal_error", "Something went wrong")

    async def on_authenticate(self, conn: Connection, data: dict):
        if conn.user is None:
            user = await authenticate_token(_token(data))
            if user is None:
                await self._error(conn.sid, "unauthorized", "Invalid or expired token")
                await self.sio.disconnect(conn.sid)
                return None
            await self._authenticated(conn, user)
            return self._identity(conn)
        await self._emit(conn.sid, "connected", self._identity(conn))
        return self._identity(conn)

    async def on_ping(self, conn: Connection, data: dict):
        body = {"ts": data.get("ts"), "timestamp": timezone.now()}
        return await self._emit(conn.sid, "pong", body)

    async def on_chat_message(self, conn: Connection, data: dict):
        body = await database_sync_to_async(realtime.send)(conn.user, data, conn.channel)
        replayed = body.pop("replayed")
        await self._join(conn, body["sessionId"], CONTRACT)
        message, response = body["message"], body["response"]
        await self._emit(
            conn.sid,
            "chat:ack",
            {
                "sessionId": body["sessionId"],
                "clientMessageId": message["client_message_id"],
                "messageId": message["message_id"],
                "sequenceNumber": message["sequence_number"],
                "responseMessageId": response["message_id"] if response else None,
                "responseSequenceNumber": response["sequence_number"] if response else None,
                "replayed": replayed,
            },
        )
        # `content` at the top as well: the seed's frontends read `data.content`.
        body["content"] = response["content"] if response else None
        return await self._emit(conn.sid, "chat:response", body)

    async def on_chat_history(self, conn: Connection, data: dict):
        body = await database_sync_to_async(realtime.history)(conn.user, data)
        return await self._emit(conn.sid, "chat:history", body)

    async def on_session_join(self, conn: Connection, data: dict):
        session = await database_sync_to_async(realtime.join)(conn.user, data)
        await self._join(conn, session["sessionId"], CONTRACT)
        return await self._emit(conn.sid, "session:updated", {"session": session, "joined": True})

    async def on_chat_typing(self, conn: Connection, data: dict):
        await self._typing(conn, data, data.get("isTyping") is True)
        return {"sessionId": str(data.get("sessionId")), "isTyping": data.get("isTyping") is True}

    async def on_create_session(self, conn: Connection, data: dict):
        session = await database_sync_to_async(_create_session)(conn.user, data)
        await self._join(conn, session["sessionId"], ORIGINAL)
        body = {"sessionId": session["sessionId"], "session": session}
        return await self._emit(conn.sid, "sessionCreated", body)

    async def on_join_session(self, conn: Connection, data: dict):
        body = await database_sync_to_async(_join_with_history)(conn.user, data)
        await self._join(conn, body["sessionId"], ORIGINAL)
        return await self._emit(conn.sid, "sessionJoined", body)

    async def on_send_message(self, conn: Connection, data: dict):
        body = await database_sync_to_async(realtime.send)(conn.user, data, conn.channel)
        replayed = body.pop("replayed")
        session_id, message, response = body["sessionId"], body["message"], body["response"]
        await self._join(conn, session_id, ORIGINAL)
        await self._emit(
            conn.sid,
            "messageReceived",
            {
                "sessionId": session_id,
                "message": message,
                "clientMessageId": message["client_message_id"],
                "replayed": replayed,
            },
        )
        if response is not None:  # None while a person, not the bot, answers (hand-off)
            await self._emit(
                conn.sid,
                "newMessage",
                {"sessionId": session_id, "message": response, "agent": body["agent"]},
            )
        return _plain(body)

    async def on_typing(self, conn: Connection, data: dict):
        await self._typing(conn, data, True)
        return {"sessionId": str(data.get("sessionId")), "isTyping": True}

    async def on_stop_typing(self, conn: Connection, data: dict):
        await self._typing(conn, data, False)
        return {"sessionId": str(data.get("sessionId")), "isTyping": False}

    async def on_end_session(self, conn: Connection, data: dict):
        session = await database_sync_to_async(_end_session)(conn.user, data)
        body = self._ended_body(session)
        if self._first_end_notice(conn, session["sessionId"]):
            await self._emit(conn.sid, "sessionEnded", body)
        return _plain(body)

    # --- helpers -------------------------------------------------------------------------------
    async def _join(self, conn: Connection, session_id: str, vocabulary: str) -> None:
        vocabularies = conn.joined.get(session_id)
        if vocabularies is None:
            try:
                await get_channel_layer().group_add(session_group(session_id), conn.channel)
            except Exception as exc:  # fan-out degraded; sends and catch-up still work
                logger.warning("group_add failed: %s", exc.__class__.__name__)
                return
            vocabularies = conn.joined[session_id] = set()
        vocabularies.add(vocabulary)

    async def _typing(self, conn: Connection, data: dict, is_typing: bool) -> None:
        session_id = str(data.get("sessionId"))
        if session_id not in conn.joined:
            raise ValidationFailed("Join the session before typing in it", code="not_joined")
        timer = conn.typing_timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()
        await self._publish_typing(conn, session_id, is_typing)
        if is_typing:
            # Indicators are not stored and stop by themselves if the client goes quiet.
            conn.typing_timers[session_id] = asyncio.create_task(
                self._stop_typing_later(conn, session_id)
            )

    async def _stop_typing_later(self, conn: Connection, session_id: str) -> None:
        await asyncio.sleep(settings.WS_TYPING_TIMEOUT_SECONDS)
        conn.typing_timers.pop(session_id, None)
        await self._publish_typing(conn, session_id, False)

    async def _publish_typing(self, conn: Connection, session_id: str, is_typing: bool) -> None:
        await database_sync_to_async(publish_typing)(
            session_id=session_id,
            user_id=conn.user.get_username(),
            is_typing=is_typing,
            origin=conn.channel,
        )

    @staticmethod
    def _ended_body(session: dict) -> dict:
        return {
            "sessionId": session["sessionId"],
            "session": session,
            "reason": session.get("endedReason"),
        }

    @staticmethod
    def _first_end_notice(conn: Connection, session_id: str) -> bool:
        if session_id in conn.ended:
            return False
        conn.ended.add(session_id)
        return True

    async def _emit(self, sid: str, event: str, data: Any) -> Any:
        data = _plain(data)
        await self.sio.emit(event, data, to=sid)
        return data

    async def _error(
        self,
        sid: str,
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
        return {"error": await self._emit(sid, "error", body)}

    # --- channel-layer events out --------------------------------------------------------------
    async def _read(self, conn: Connection) -> None:
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
                await self._deliver(conn, event)
            except Exception:
                logger.exception("delivering %s failed", event.get("type"))

    async def _deliver(self, conn: Connection, event: dict) -> None:
        kind = event.get("type")
        if kind == "session.updated":
            session = event["session"]
            session_id = session["sessionId"]
            if session_id not in conn.joined:
                return
            await self._emit(conn.sid, "session:updated", {"session": session})
            if (
                ORIGINAL in conn.joined[session_id]
                and session.get("status") in CLOSED_STATUSES
                and self._first_end_notice(conn, session_id)
            ):
                await self._emit(conn.sid, "sessionEnded", self._ended_body(session))
            return
        session_id = event.get("sessionId")
        vocabularies = conn.joined.get(session_id, set())
        if event.get("origin") == conn.channel:
            return  # the sender has its direct answer already
        if kind == "chat.messages":
            for message in event["messages"]:
                body = {"sessionId": session_id, "message": message}
                if CONTRACT in vocabularies:
                    await self._emit(conn.sid, "chat:message", body)
                if ORIGINAL in vocabularies:
                    await self._emit(conn.sid, "newMessage", body)
        elif kind == "chat.typing":
            user_id, is_typing = event["userId"], event["isTyping"]
            if CONTRACT in vocabularies:
                body = {"sessionId": session_id, "userId": user_id, "isTyping": is_typing}
                await self._emit(conn.sid, "chat:typing", body)
            if ORIGINAL in vocabularies:
                name = "userTyping" if is_typing else "userStoppedTyping"
                await self._emit(conn.sid, name, {"sessionId": session_id, "userId": user_id})


server = ChatSocketIO()
socketio_app = socketio.ASGIApp(server.sio, socketio_path=SOCKETIO_PATH.lstrip("/"))
