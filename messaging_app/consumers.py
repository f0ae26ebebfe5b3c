"""The chat WebSocket at /ws/chat/: JSON frames {"event": NAME, "data": {...}}.

Each event authenticates (once per socket), validates, calls one service through
`database_sync_to_async`, and answers; fan-out to other sockets comes from the services
after commit, through the session's channel-layer group.
"""

import asyncio
import contextlib
import json
import logging
import math
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from chatbackend import shutdown
from chatbackend.auth import SocketLogin, TokenRejected, socket_login
from chatbackend.connections import socket_closed, socket_opened
from chatbackend.errors import PermissionDenied, ServiceUnavailable, ValidationFailed
from messaging_app import realtime
from messaging_app.events import group_refresh_seconds, publish_typing, session_group
from messaging_app.realtime import orm

logger = logging.getLogger(__name__)


def _not_json(name: str):
    """json.loads takes NaN, Infinity and -Infinity; JSON does not, and a value read from a
    frame must be one we can send back (pong echoes `ts`)."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A number too big for a float (1e400) decodes as Infinity: refused like the words."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


CLOSE_UNAUTHENTICATED = 4001
CLOSE_GOING_AWAY = 1001


# What the servers raise on a send to a client that has already gone (uvicorn's
# ClientDisconnected is an OSError; so are the resets a half-closed transport gives).
CLIENT_GONE = (OSError,)


class ChatConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = None
        self.joined: set[str] = set()
        self.typing_timers: dict[str, asyncio.Task] = {}
        self.auth_deadline: asyncio.Task | None = None
        self.token_expiry: asyncio.Task | None = None
        self.rejoining: asyncio.Task | None = None
        self.inbound = shutdown.Inbound()
        self.closed = False  # no frame can reach the client any more (see send_event)
        self.opened = False  # counted by socket_opened(), so release() must count it off
        self.released = False

    async def __call__(self, scope, receive, send):
        # Channels calls disconnect() only for a websocket.disconnect it gets to dispatch: a
        # handler that raised would leave the socket counted open, its channel in every
        # session group and its timers running, for the life of the process.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.release()

    async def connect(self):
        login = self.scope.get("login")
        self.user = login.user if login else None
        # Tracked before the handshake completes: a SIGTERM that arrives as soon as the client
        # is connected must already find the drain handler (else the server closes with 1012).
        shutdown.track(self)
        await self.accept()
        self.opened = True
        socket_opened()
        self.rejoining = asyncio.create_task(self._keep_joined())
        if self.scope.get("token_given") and self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        elif self.user is None:
            self.auth_deadline = asyncio.create_task(self._close_unless_authenticated())
        else:
            self._close_at_expiry(login)

    async def websocket_disconnect(self, message):
        self.closed = True  # the client is gone: whatever still runs must not write to it
        await super().websocket_disconnect(message)

    async def close(self, code=None, reason=None):
        if self.closed:
            return  # a second close (expiry during a drain, say) is an ASGI protocol error
        self.closed = True
        with contextlib.suppress(*CLIENT_GONE):  # already gone: nothing left to close
            await super().close(code=code, reason=reason)

    async def disconnect(self, code):
        await self.release()

    async def release(self):
        """Everything the socket holds, given back once (disconnect, or the consumer ending any
        other way): its place in /health's count, its drain, its timers, its groups."""
        if self.released:
            return
        self.released = True
        self.closed = True
        if self.opened:
            socket_closed()
        shutdown.untrack(self)
        typing_in = [sid for sid, timer in self.typing_timers.items() if not timer.done()]
        tasks = [
            *self.typing_timers.values(),
            self.auth_deadline,
            self.token_expiry,
            self.rejoining,
        ]
        for task in tasks:
            if task is not None:
                task.cancel()
        # The timers that would have said "stopped typing" go with the socket: say it now, or
        # the others see this user typing until they reload.
        for session_id in typing_in:
            try:
                await self._publish_typing(session_id, False)
            except Exception as exc:  # best effort, like every typing event
                logger.warning("typing stop on disconnect failed: %s", exc.__class__.__name__)
        for session_id in list(self.joined):
            try:
                await self.channel_layer.group_discard(session_group(session_id), self.channel_name)
            except Exception as exc:  # Redis gone: its groups expire by themselves
                logger.warning("group_discard failed: %s", exc.__class__.__name__)

    async def _close_unless_authenticated(self):
        await asyncio.sleep(settings.WS_AUTH_TIMEOUT_SECONDS)
        if self.user is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    def _close_at_expiry(self, login: SocketLogin):
        """A socket is no longer signed in than its token: an `auth` frame with a fresh token
        before then keeps it open (see on_auth)."""
        if self.token_expiry is not None:
            self.token_expiry.cancel()
        self.token_expiry = asyncio.create_task(self._close_when_expired(login.expires_at))

    async def _close_when_expired(self, expires_at: float):
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.send_error("token_expired", "The access token expired; sign in again")
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def drain(self):
        """Server shutdown: handle every frame already sent to us, then close with 1001."""
        await self.inbound.close_when_quiet()
        await self.close(code=CLOSE_GOING_AWAY)

    # --- frames in ---------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if self.inbound.closing:
            return await self.send_error(*shutdown.RESTARTING, retryable=True)
        async with self.inbound.handling():
            await self.handle_frame(text_data, bytes_data)

    async def handle_frame(self, text_data, bytes_data):
        if bytes_data is not None:
            return await self.send_error("binary_not_supported", "Frames must be JSON text")
        # Bytes, as the setting says: 16 KiB of emoji is a quarter as many characters. Only
        # a frame that could be over is encoded to find out.
        limit = settings.WS_MAX_FRAME_BYTES
        if len(text_data) > limit or (
            len(text_data) * 4 > limit and len(text_data.encode(errors="surrogatepass")) > limit
        ):
            return await self.send_error(
                "frame_too_large", f"Frames are limited to {settings.WS_MAX_FRAME_BYTES} bytes"
            )
        try:
            frame = json.loads(text_data, parse_constant=_not_json, parse_float=_finite_float)
        except (ValueError, RecursionError):
            return await self.send_error("invalid_json", "Frame is not valid JSON")
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            return await self.send_error("invalid_frame", 'Frames are {"event": NAME, "data": {}}')
        data = frame.get("data", {})
        if not isinstance(data, dict):
            return await self.send_error("invalid_frame", "data must be an object")
        event = frame["event"]
        if self.user is None and event != "auth":
            return await self.send_error("unauthenticated", "Send an auth frame first")
        handler = self.handlers.get(event)
        if handler is None:
            return await self.send_error("unknown_event", f"Unknown event {event[:50]!r}")
        try:
            await realtime.reporting_errors(
                handler(self, data), self.send_error, event=event, data=data
            )
        except TokenRejected:
            # The token, or the account since the socket signed in, is no longer good.
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def on_auth(self, data: dict):
        """Sign the socket in, or, once signed in, renew it with a fresh token of the same user
        (a client that refreshes its token keeps its socket and joined sessions)."""
        if self.user is not None and not data.get("token"):
            return await self.send_event("auth:ok", {"userId": self.user.get_username()})
        login = await orm(socket_login)(data.get("token"))
        if self.user is not None and login.user.pk != self.user.pk:
            raise PermissionDenied("This socket is signed in as another user")
        renewing = self.user is not None
        self.user = login.user
        if self.auth_deadline is not None:
            self.auth_deadline.cancel()
        self._close_at_expiry(login)
        if renewing:
            # A renewal must not carry over joins the account no longer allows.
            await self._recheck_joined()
        await self.send_event("auth:ok", {"userId": self.user.get_username()})

    async def on_message(self, data: dict):
        body = await orm(realtime.send)(self.user, data, self.channel_name)
        await self._answer(body)

    async def _answer(self, body: dict):
        # The turn is stored whether or not the join takes: answer it either way (a failed
        # join is tried again by the next message or session:join).
        await self.join(body["sessionId"])
        await self.send_event("chat:ack", realtime.ack(body))
        body.pop("replayed")
        await self.send_event("chat:response", body)

    async def on_history(self, data: dict):
        await self.send_event("chat:history", await orm(realtime.history)(self.user, data))

    async def on_join(self, data: dict):
        session = await orm(realtime.join)(self.user, data)
        if not await self.join(session["sessionId"]):
            # Saying joined would leave the client waiting for events that never come.
            raise ServiceUnavailable(
                "Live updates for this session are unavailable right now; join it again shortly",
                code="join_failed",  # as Socket.IO says it
                details={"sessionId": session["sessionId"]},
            )
        # Read again now that the socket is in the group: a change committed before the join
        # took is in this snapshot, and every later one reaches the socket as an event after it.
        try:
            session = await orm(realtime.join)(self.user, {"sessionId": session["sessionId"]})
        except Exception:
            await self.leave(session["sessionId"])  # refused now, or not read: not joined
            raise
        await self.send_event("session:updated", {"session": session, "joined": True})

    async def on_typing(self, data: dict):
        session_id = str(data.get("sessionId"))
        if session_id not in self.joined:
            raise ValidationFailed("Join the session before typing in it", code="not_joined")
        is_typing = data.get("isTyping") is True
        timer = self.typing_timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()
        await self._publish_typing(session_id, is_typing)
        if is_typing:
            # Indicators are not stored and stop by themselves if the client goes quiet.
            self.typing_timers[session_id] = asyncio.create_task(
                self._stop_typing_later(session_id)
            )

    async def _stop_typing_later(self, session_id: str):
        await asyncio.sleep(settings.WS_TYPING_TIMEOUT_SECONDS)
        self.typing_timers.pop(session_id, None)
        await self._publish_typing(session_id, False)

    async def _publish_typing(self, session_id: str, is_typing: bool):
        await orm(publish_typing)(
            session_id=session_id,
            user_id=self.user.get_username(),
            is_typing=is_typing,
            origin=self.channel_name,
        )

    async def on_ping(self, data: dict):
        await self.send_event("pong", {"ts": data.get("ts")})

    handlers = {
        "auth": on_auth,  # the one event allowed before signing in
        "chat:message": on_message,
        "chat:history": on_history,
        "session:join": on_join,
        "chat:typing": on_typing,
        "ping": on_ping,
    }

    async def join(self, session_id: str) -> bool:
        """Receive the session's events from now on; False if the channel layer would not take
        the join (it is not counted as joined, so the next join or message tries again)."""
        if session_id in self.joined:
            return True
        if self.closed:
            return False  # a turn that outlived its client: nobody left to send its events to
        try:
            await self.channel_layer.group_add(session_group(session_id), self.channel_name)
        except Exception as exc:  # fan-out degraded; sends and catch-up still work
            logger.warning("group_add failed: %s", exc.__class__.__name__)
            return False
        self.joined.add(session_id)
        return True

    async def leave(self, session_id: str):
        self.joined.discard(session_id)
        timer = self.typing_timers.pop(session_id, None)
        if timer is not None and not timer.done():
            timer.cancel()
            # The timer would have said "stopped typing"; say it now, or the others see this
            # user typing there for good.
            try:
                await self._publish_typing(session_id, False)
            except Exception as exc:  # best effort, like every typing event
                logger.warning("typing stop on leave failed: %s", exc.__class__.__name__)
        try:
            await self.channel_layer.group_discard(session_group(session_id), self.channel_name)
        except Exception as exc:  # Redis gone: deliveries are checked against self.joined
            logger.warning("group_discard failed: %s", exc.__class__.__name__)

    async def _recheck_joined(self) -> set[str]:
        """Re-read the user and leave every joined session it may no longer see; the sessions
        it still may. A deactivated account's socket is closed (4001)."""
        try:
            self.user, visible = await orm(realtime.visible_sessions)(self.user, self.joined)
        except TokenRejected:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            visible = set()
        for session_id in self.joined - visible:
            await self.leave(session_id)
        return visible

    async def _may_deliver(self, session_id: str) -> bool:
        """Whether a session event may reach this client now. Staff see other users' sessions
        only while they are staff (and active): their deliveries re-read the account, so a flag
        taken away stops the next event rather than the next frame the client happens to send.
        Anyone else only ever joined their own sessions, which stay theirs."""
        if session_id not in self.joined:
            return False  # left while the event was on its way
        if not self.user.is_staff:
            return True
        try:
            return session_id in await self._recheck_joined()
        except Exception as exc:  # database away: withhold rather than deliver unchecked
            logger.warning("delivery check failed: %s", exc.__class__.__name__)
            return False

    async def _keep_joined(self):
        interval = group_refresh_seconds(self.channel_layer)
        while True:
            await asyncio.sleep(interval)
            for session_id in list(self.joined):
                group = session_group(session_id)
                try:
                    await self.channel_layer.group_add(group, self.channel_name)
                    if session_id not in self.joined:  # left while we were renewing it
                        await self.channel_layer.group_discard(group, self.channel_name)
                except Exception as exc:  # Redis away: the layer restores joins when it is back
                    logger.warning("group renewal failed: %s", exc.__class__.__name__)
                    break

    # --- channel-layer events out --------------------------------------------------------------
    async def chat_messages(self, event):
        if event.get("origin") == self.channel_name:
            return  # the sender already has chat:ack and chat:response
        if not await self._may_deliver(event["sessionId"]):
            return
        for message in event["messages"]:
            await self.send_event(
                "chat:message", {"sessionId": event["sessionId"], "message": message}
            )

    async def session_updated(self, event):
        if not await self._may_deliver(event["session"]["sessionId"]):
            return
        await self.send_event("session:updated", {"session": event["session"]})

    async def chat_typing(self, event):
        if event.get("origin") == self.channel_name:
            return
        if not await self._may_deliver(event["sessionId"]):
            return
        await self.send_event(
            "chat:typing",
            {
                "sessionId": event["sessionId"],
                "userId": event["userId"],
                "isTyping": event["isTyping"],
            },
        )

    # --- frames out ----------------------------------------------------------------------------
    async def send_event(self, event: str, data: dict):
        """Send a frame, unless the client can no longer get one: a turn that outlives its
        socket (tab closed, or closed here at token expiry) finishes and is stored, and its
        answer is dropped instead of failing the handler (which would be reported as a bug
        and keep Channels from ever calling disconnect())."""
        if self.closed:
            return
        # NaN and Infinity would go out as bare words no JSON parser takes: a ValueError here
        # becomes internal_error instead (reporting_errors).
        text = json.dumps({"event": event, "data": data}, cls=DjangoJSONEncoder, allow_nan=False)
        try:
            await self.send(text_data=text)
        except CLIENT_GONE:
            # The websocket.disconnect is on its way; disconnect() cleans up when it comes.
            self.closed = True

    async def send_error(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        details=None,
        client_message_id=None,
    ):
        body = {"code": code, "message": message, "retryable": retryable, "details": details or {}}
        if "retryAfter" in body["details"]:
            body["retryAfter"] = body["details"]["retryAfter"]
        if isinstance(client_message_id, str):
            body["clientMessageId"] = client_message_id
        await self.send_event("error", body)
