"""Who may connect: the JWT sent at handshake or later (the origin policy is
chatbackend.ws_security.origin_allowed, shared with /ws/chat/ and /mcp)."""

from typing import Any

from chatbackend.auth import SocketLogin, TokenRejected, socket_login
from chatbackend.ws_security import token_from_scope
from messaging_app.realtime import orm


def token_from_auth(auth: Any) -> str | None:
    """`{token}` or the bare token string, with or without a `Bearer ` prefix."""
    raw = auth.get("token") if isinstance(auth, dict) else auth
    if not isinstance(raw, str) or not raw.strip():
        return None
    scheme, _, rest = raw.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else raw.strip()


def handshake_token(auth: Any, environ: dict) -> str | None:
    """The `auth` payload's token, else the handshake's `?token=` or `Authorization` header."""
    return token_from_auth(auth) or token_from_scope(environ.get("asgi.scope", {}))


async def login_for_token(raw: str | None) -> SocketLogin | None:
    """The token's active user and expiry, or None."""
    # On the consumers' ORM thread pool, as their `auth` frame is: on Channels' single database
    # thread a handshake would wait behind every other socket's queries.
    try:
        return await orm(socket_login)(raw)
    except TokenRejected:
        return None
