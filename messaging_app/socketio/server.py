"""python-socketio's AsyncServer: each connection's lifecycle (token, channel-layer channel,
greeting, drain on shutdown) and the dispatch of client events to `handlers`."""

import asyncio
import logging
import time
from typing import Any

import socketio
from channels.layers import get_channel_layer
from django.conf import settings

from chatbackend import shutdown
from chatbackend.auth import SocketLogin, TokenRejected
from chatbackend.connections import socket_closed, socket_opened
from chatbackend.errors import PermissionDenied
from chatbackend.ws_security import origin_allowed
from messaging_app import realtime
from messaging_app.socketio.connection import Connection, json_finite
from messaging_app.socketio.delivery import forward_channel_events
from messaging_app.socketio.handlers import EVENT_HANDLERS, broadcast_typing
from messaging_app.socketio.security import (
    handshake_token,
    login_for_token,
    token_from_auth,
)

logger = logging.getLogger(__name__)

SOCKETIO_PATH = "/socket.io"
DRAIN_CLOSE_WAIT_SECONDS = 2


def is_socketio_path(path: str) -> bool:
    return path == SOCKETIO_PATH or path.startswith(SOCKETIO_PATH + "/")


class ChatSocketIO:
    """The Socket.IO server and its bridge to the channel layer."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            # A callable rather than the list: python-socketio reads an empty list as "check
            # nothing", while an empty ALLOWED_ORIGINS (production's default) must refuse
            # every browser origin.
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
        self.handlers = {"authenticate": self.on_authenticate, **EVENT_HANDLERS}

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
    # python-socketio dispatches a client's EVENT packet named "connect" or "disconnect" to these
    # explicit handlers too (its reserved-name check covers only the "*" catch-all). What tells
    # them apart, in python-socketio 5's manager: a genuine connect runs while the sid is still
    # pending connection (is_pre_connected), a genuine disconnect after pre_disconnect (so
    # is_connected is false), and an EVENT is dispatched only once is_connected is true. A client
    # event goes to on_event, as any other name would: `unknown_event`, and nothing changes.
    async def on_connect(self, sid: str, *args: Any):
        if not self.sio.manager.is_pre_connected(sid, "/"):
            return await self.on_event("connect", sid, *args)
        if sid in self.connections:  # cannot happen for a genuine connect; never replace one
            return False
        environ, auth = args[0], args[1] if len(args) > 1 else None
        return await self._open(sid, environ, auth)

    async def _open(self, sid: str, environ: dict, auth: Any):
        raw = handshake_token(auth, environ)
        login = None
        if raw is not None:
            login = await login_for_token(raw)
            if login is None:
                # CONNECT_ERROR: socket.io-client emits `connect_error` with this message/data.
                raise socketio.exceptions.ConnectionRefusedError(
                    "Invalid or expired token", {"code": "unauthorized"}
                )
        conn = self.connections[sid] = Connection(self, sid)
        socket_opened()
        shutdown.track(conn)
        if login is not None:
            await self._authenticated(conn, login)
        else:
            conn.tasks.append(asyncio.create_task(self._disconnect_unless_authenticated(conn)))
        return True

    async def _authenticated(self, conn: Connection, login: SocketLogin) -> None:
        conn.user = login.user
        self._disconnect_at_expiry(conn, login)
        conn.channel = await get_channel_layer().new_channel()
        conn.tasks.append(asyncio.create_task(forward_channel_events(conn)))
        conn.tasks.append(asyncio.create_task(conn.keep_groups_joined()))
        conn.tasks.append(asyncio.create_task(self._greet(conn)))

    def _disconnect_at_expiry(self, conn: Connection, login: SocketLogin) -> None:
        """A socket is no longer signed in than its token: `authenticate` with a fresh token of
        the same user before then keeps it connected."""
        if conn.token_expiry is not None:
            conn.token_expiry.cancel()
        conn.token_expiry = asyncio.create_task(self._disconnect_when_expired(conn, login))

    async def _disconnect_when_expired(self, conn: Connection, login: SocketLogin) -> None:
        await asyncio.sleep(max(0.0, login.expires_at - time.time()))
        await conn.emit_error("token_expired", "The access token expired; sign in again")
        await self.sio.disconnect(conn.sid)

    async def _greet(self, conn: Connection) -> None:
        # The CONNECT packet goes out only after the connect handler returns, and some clients
        # drop events for a namespace they have not joined yet: greet once it is connected.
        for _ in range(200):
            if self.sio.manager.is_connected(conn.sid, "/"):
                break
            await asyncio.sleep(0.005)
        await conn.emit("connected", self._identity(conn))

    @staticmethod
    def _identity(conn: Connection) -> dict:
        return {"userId": conn.user.get_username(), "authenticated": True}

    async def _disconnect_unless_authenticated(self, conn: Connection) -> None:
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if conn.user is None:
            await conn.emit_error("unauthenticated", "No token was sent in time")
            await self.sio.disconnect(conn.sid)

    async def on_authenticate(self, conn: Connection, data: dict):
        """Sign the socket in, or, once signed in, renew it with a fresh token of the same user."""
        token = token_from_auth(data)
        if conn.user is not None and not token:
            await conn.emit("connected", self._identity(conn))
            return self._identity(conn)
        login = await login_for_token(token)
        if login is None:
            raise TokenRejected("invalid token")
        if conn.user is None:
            await self._authenticated(conn, login)
            return self._identity(conn)
        if login.user.pk != conn.user.pk:
            raise PermissionDenied("This socket is signed in as another user")
        conn.user = login.user
        self._disconnect_at_expiry(conn, login)
        await conn.emit("connected", self._identity(conn))
        return self._identity(conn)

    async def on_disconnect(self, sid: str, *args: Any):
        if self.sio.manager.is_connected(sid, "/"):  # a client event (see on_connect)
            return await self.on_event("disconnect", sid, *args)
        await self._close(sid)
        return None

    async def _close(self, sid: str) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        socket_closed()
        shutdown.untrack(conn)
        current = asyncio.current_task()
        for task in [*conn.tasks, *conn.typing_timers.values(), conn.token_expiry]:
            # The auth deadline or the token's expiry may be what is disconnecting us.
            if task is not None and task is not current:
                task.cancel()
        for session_id in list(conn.typing_timers):
            # Nobody will send stopTyping for a socket that is gone.
            await broadcast_typing(conn, session_id, False)
        for session_id in list(conn.joined):
            await conn.leave(session_id)

    async def drain(self, conn: Connection) -> None:
        """Answer every event already sent, then close the transport (not the Socket.IO
        session): socket.io-client then reconnects by itself, to an instance that is up."""
        await conn.inbound.close_when_quiet()
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
        if conn.inbound.closing:
            return await conn.emit_error(*shutdown.RESTARTING, retryable=True)
        async with conn.inbound.handling():
            return await self._handle(conn, event, args)

    async def _handle(self, conn: Connection, event: str, args: tuple):
        handler = self.handlers.get(event)
        if handler is None:
            return await conn.emit_error("unknown_event", f"Unknown event {event[:50]!r}")
        data = args[0] if args else None
        if isinstance(data, str):
            # The original's frontends often send the bare id (or token) instead of an object.
            data = {"token" if event == "authenticate" else "sessionId": data}
        elif data is None:
            data = {}
        if not isinstance(data, dict):
            return await conn.emit_error("invalid_payload", "The payload must be an object")
        if not json_finite(data):
            return await conn.emit_error("invalid_payload", "NaN and Infinity are not JSON numbers")
        if conn.user is None and event != "authenticate":
            return await conn.emit_error("unauthenticated", "Authenticate first")
        try:
            return await realtime.reporting_errors(
                handler(conn, data), conn.emit_error, event=event, data=data
            )
        except TokenRejected:
            # The token, or the account since the socket signed in, is no longer good.
            await self.sign_out(conn)
            return None

    async def sign_out(self, conn: Connection) -> None:
        await conn.emit_error("unauthorized", "Invalid or expired token")
        await self.sio.disconnect(conn.sid)

    def sign_out_later(self, conn: Connection) -> None:
        """sign_out from the socket's own reader task, which the disconnect must cancel: a
        disconnect spares the task it runs in (on_disconnect), so it runs in a task of its own."""
        task = asyncio.create_task(self.sign_out(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


chat_socketio = ChatSocketIO()
socketio_app = socketio.ASGIApp(chat_socketio.sio, socketio_path=SOCKETIO_PATH.lstrip("/"))
