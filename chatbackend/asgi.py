"""ASGI entry point: HTTP through Django (and /mcp through the MCP SDK); WebSocket through
Channels behind the origin policy and JWT authentication."""

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


async def http_app(scope, receive, send):
    """/mcp is the bank's MCP server (Streamable HTTP, its own JWT check); the rest is Django."""
    path = scope["path"]
    if path == "/mcp" or path.startswith("/mcp/"):
        return await mcp_http_app(scope, receive, send)
    return await django_asgi_app(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": BrowserOriginValidator(
            JwtAuthMiddleware(URLRouter(websocket_urlpatterns)), settings.ALLOWED_ORIGINS
        ),
    }
)
