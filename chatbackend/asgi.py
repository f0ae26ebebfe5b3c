"""ASGI entry point: HTTP through Django (/mcp through the MCP SDK); WebSocket through Channels
behind the origin policy and JWT authentication; /socket.io/ (both its long-polling HTTP and its
WebSocket) through the Socket.IO server for the original service's frontends."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbackend.settings")

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from agents_app.mcp_server import mcp_http_app  # noqa: E402
from chatbackend.ws_security import BrowserOriginValidator, JwtAuthMiddleware  # noqa: E402
from messaging_app.routing import websocket_urlpatterns  # noqa: E402
from messaging_app.socketio import is_socketio_path, socketio_app  # noqa: E402
from sessions_app.expiry import start_sweeper  # noqa: E402

channels_websocket_app = BrowserOriginValidator(
    JwtAuthMiddleware(URLRouter(websocket_urlpatterns)), settings.ALLOWED_ORIGINS
)


async def http_app(scope, receive, send):
    """/mcp is the bank's MCP server (Streamable HTTP, its own JWT check); the rest is Django."""
    path = scope["path"]
    if path == "/mcp" or path.startswith("/mcp/"):
        return await mcp_http_app(scope, receive, send)
    if is_socketio_path(path):
        return await socketio_app(scope, receive, send)
    return await django_asgi_app(scope, receive, send)


async def websocket_app(scope, receive, send):
    """Socket.IO checks origin and token in its own handshake (the same policy); the rest is
    the Channels router."""
    if is_socketio_path(scope["path"]):
        return await socketio_app(scope, receive, send)
    return await channels_websocket_app(scope, receive, send)


protocol_router = ProtocolTypeRouter({"http": http_app, "websocket": websocket_app})


async def application(scope, receive, send):
    # The servers run without ASGI lifespan events, so the process's background work starts
    # with its first connection.
    start_sweeper()
    return await protocol_router(scope, receive, send)
