"""Rate limits shared by every instance, counted in the Redis cache by django-ratelimit.

Windows are django-ratelimit's fixed windows (one minute for "60/m", offset per key).
If Redis cannot be reached the check fails open: the chat keeps working and a warning is
logged, because refusing every message during a cache outage would be an outage of its own.
"""

import logging
from types import SimpleNamespace

from django.conf import settings
from django_ratelimit.core import get_usage

from chatbackend.errors import ServiceError

logger = logging.getLogger(__name__)
# django-ratelimit's core wants a request; our keys are computed by us, so a stub suffices
# (it lets WebSocket and Socket.IO share the exact check REST uses).
_NO_REQUEST = SimpleNamespace(method="POST", META={})


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"
    retryable = True

    @property
    def retry_after(self) -> int:
        return int(self.details.get("retryAfter", 1))


def enforce(*, group: str, key: str, rate: str | None, message: str) -> None:
    """Count one attempt for `key`; raise RateLimited when over `rate` (e.g. "60/m")."""
    if not rate:
        return
    try:
        usage = get_usage(
            _NO_REQUEST, group=group, key=lambda _group, _request: key, rate=rate, increment=True
        )
    except Exception as exc:  # Redis down or refusing: fail open, loudly
        logger.warning(
            "rate limit %s not checked (cache unavailable: %s)", group, type(exc).__name__
        )
        return
    if usage and usage["should_limit"]:
        retry_after = max(1, int(usage["time_left"]))
        raise RateLimited(message, details={"retryAfter": retry_after, "limit": usage["limit"]})


def enforce_message_rate(session_id) -> None:
    """60 messages a minute per session, REST, WebSocket and Socket.IO together."""
    enforce(
        group="chat.messages",
        key=str(session_id),
        rate=settings.CHAT_MESSAGE_RATE,
        message="Too many messages in this session; slow down",
    )


def enforce_login_rate(*, username: str, ip: str) -> None:
    """Login attempts per username and per client address."""
    enforce(
        group="auth.login.user",
        key=username.lower()[:150],
        rate=settings.LOGIN_RATE_PER_USER,
        message="Too many login attempts; try again later",
    )
    enforce(
        group="auth.login.ip",
        key=ip,
        rate=settings.LOGIN_RATE_PER_IP,
        message="Too many login attempts; try again later",
    )
