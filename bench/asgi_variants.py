"""The real ASGI application with a variant of the chat consumer, for measuring how a turn
reaches the ORM (BENCH_CONSUMER):

- `batched` (the shipped consumer): one `database_sync_to_async` call per turn, on the
  consumers' thread pool;
- `split`: three calls per turn (look up the session, send, serialize) on the same pool, as a
  consumer that calls a service per step would;
- `serial`: one call per turn on Channels' default thread-sensitive executor: every socket's
  ORM work in this process queued on one thread (what the consumer did before the bench).

BENCH_RESPONDER=constant replaces the agents with a constant reply, to compare stacks
without the agents' cost (the same on every stack) hiding the differences.
"""

import os

from channels.db import database_sync_to_async

from chatbackend.asgi import application as _shipped  # noqa: F401 - sets Django up
from chatbackend.asgi import http_app
from messaging_app import consumers, realtime
from messaging_app.api.serializers import turn_json
from messaging_app.services import chat_message_send
from sessions_app.selectors import session_get

VARIANT = os.environ.get("BENCH_CONSUMER", "batched")


def _constant_reply(*, session, content, message_type):
    from messaging_app.services import ReplyDraft

    return ReplyDraft(
        content="Your Everyday Checking balance is $5,432.10.",
        intent="balance_check",
        confidence=0.93,
        agent_info={"primary": "banking", "agentsInvolved": ["bench"]},
        metadata={"quickReplies": [], "suggestedActions": []},
    )


if os.environ.get("BENCH_RESPONDER") == "constant":
    # Isolates the serving stack from the agents (whose cost is the same on every stack).
    from messaging_app import services

    services.default_responder = lambda: _constant_reply


class SplitConsumer(consumers.ChatConsumer):
    async def on_message(self, data: dict):
        session_id = data.get("sessionId")
        if session_id is not None:
            await realtime.orm(session_get)(actor=self.user, session_id=session_id)
        turn = await realtime.orm(chat_message_send)(
            actor=self.user,
            session_id=session_id,
            content=data.get("content", data.get("message")),
            message_type=data.get("type"),
            client_message_id=data.get("clientMessageId"),
            origin=self.channel_name,
        )
        body = await realtime.orm(turn_json)(turn)
        body["replayed"] = turn.replayed
        await self._answer(body)

    handlers = {**consumers.ChatConsumer.handlers, "chat:message": on_message}


class SerialConsumer(consumers.ChatConsumer):
    async def on_message(self, data: dict):
        body = await database_sync_to_async(realtime.send)(self.user, data, self.channel_name)
        await self._answer(body)

    handlers = {**consumers.ChatConsumer.handlers, "chat:message": on_message}


def _build():
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.conf import settings
    from django.urls import path

    from chatbackend.ws_security import BrowserOriginValidator, JwtAuthMiddleware

    consumer = {
        "batched": consumers.ChatConsumer,
        "split": SplitConsumer,
        "serial": SerialConsumer,
    }[VARIANT]
    ws = BrowserOriginValidator(
        JwtAuthMiddleware(URLRouter([path("ws/chat/", consumer.as_asgi())])),
        settings.ALLOWED_ORIGINS,
    )
    return ProtocolTypeRouter({"http": http_app, "websocket": ws})


application = _build()
