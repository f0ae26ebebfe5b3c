"""WebSocket handshake security: origin policy and JWT authentication."""

from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings

from chatbackend.auth import SocketLogin, TokenRejected, socket_login


class BrowserOriginValidator(OriginValidator):
    """Refuse browser handshakes from origins not in the allowed list.

    A handshake with no Origin at all is allowed: only browsers send one, and native apps or
    servers cannot be the victim of cross-site WebSocket hijacking.
    """

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        try:
            return self.validate_origin(parsed_origin)
        except ValueError:  # e.g. a non-numeric port: not an origin we allow
            return False


def origin_allowed(origin: str | None, environ: dict | None = None) -> bool:
    """The origin policy of every endpoint Django's middleware does not see (/ws/chat/,
    /socket.io/, /mcp): a listed browser origin, or no Origin at all (native clients)."""
    try:
        parsed = urlparse(origin) if origin else None
    except ValueError:
        return False
    return BrowserOriginValidator(None, settings.ALLOWED_ORIGINS).valid_origin(parsed)


def token_from_scope(scope) -> str | None:
    """`?token=` (what browsers can send) or an `Authorization: Bearer` header."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    tokens = query.get("token")
    return tokens[0] if tokens else None


@database_sync_to_async
def authenticate_token(raw: str | None) -> SocketLogin | None:
    """The token's active user and expiry, or None (the consumer then closes with 4001)."""
    try:
        return socket_login(raw)
    except TokenRejected:
        return None


class JwtAuthMiddleware:
    """Puts `login` (a SocketLogin, or None) and `token_given` into the scope from the
    handshake's token.

    With no token at all the consumer waits a few seconds for an `auth` frame instead.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        raw = token_from_scope(scope)
        scope = dict(scope, token_given=raw is not None)
        scope["login"] = await authenticate_token(raw) if raw is not None else None
        return await self.app(scope, receive, send)
