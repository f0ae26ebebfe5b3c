"""Rate limits shared by every instance, counted in the Redis cache by django-ratelimit.

Windows are django-ratelimit's fixed windows (one minute for "60/m", offset per key).
If Redis cannot be reached the check fails open: the chat keeps working and a warning is
logged, because refusing every message during a cache outage would be an outage of its own.
"""

import ipaddress
import logging
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
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


def _usage(*, group: str, key: str, rate: str, increment: bool) -> dict | None:
    """django-ratelimit's count for `key` in the current window; None if Redis is down."""
    try:
        return get_usage(
            _NO_REQUEST,
            group=group,
            key=lambda _group, _request: key,
            rate=rate,
            increment=increment,
        )
    except Exception as exc:  # Redis down or refusing: fail open, loudly
        logger.warning(
            "rate limit %s not checked (cache unavailable: %s)", group, type(exc).__name__
        )
        return None


def _refuse(usage: dict, message: str) -> None:
    retry_after = max(1, int(usage["time_left"]))
    raise RateLimited(message, details={"retryAfter": retry_after, "limit": usage["limit"]})


def enforce(*, group: str, key: str, rate: str | None, message: str) -> None:
    """Count one attempt for `key`; raise RateLimited when over `rate` (e.g. "60/m")."""
    if not rate:
        return
    usage = _usage(group=group, key=key, rate=rate, increment=True)
    if usage and usage["should_limit"]:
        _refuse(usage, message)


def enforce_message_rate(session_id) -> None:
    """60 messages a minute per session, REST, WebSocket and Socket.IO together."""
    enforce(
        group="chat.messages",
        key=str(session_id),
        rate=settings.CHAT_MESSAGE_RATE,
        message="Too many messages in this session; slow down",
    )


# --- Login ------------------------------------------------------------------------------------
# Only failed attempts count, and the strict limit is per (client address, username): a wrong
# password typed anywhere else cannot lock an account's owner out, and the owner's own
# successful logins never use the limit up. docs/security.md weighs the three limits.
# /auth/login and the admin's login form share these counters.
LOGIN_MESSAGE = "Too many failed login attempts; try again later"


def _address_key(ip: str) -> str:
    """The client address a login counter keys on: an IPv6 client by its /64.

    One IPv6 host is routinely given a whole /64 and can pick a new address for every attempt,
    so per-address counting would not hold it; an IPv4-mapped address is its IPv4 address.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _username_key(username: str) -> str:
    """Every spelling that can reach one account counts as that account: the admin's form
    NFKC-normalises the username (fullwidth letters are the ASCII ones), and case is folded
    (the safe side: "DAVE" shares dave's counters rather than getting fresh ones)."""
    return unicodedata.normalize("NFKC", username).casefold()[:150]


def _login_limits(*, username: str, ip: str) -> list[tuple[str, str, str | None]]:
    address, user = _address_key(ip), _username_key(username)
    return [
        # The strict one: guesses at one account from one client.
        ("auth.login.ip_user", f"{address} {user}", settings.LOGIN_RATE_PER_IP_USER),
        # One client trying many accounts (password spraying).
        ("auth.login.ip", address, settings.LOGIN_RATE_PER_IP),
        # Many clients guessing at one account: a loose ceiling, the only limit a stranger can
        # use to lock the owner out, and only with many addresses (docs/security.md).
        ("auth.login.user", user, settings.LOGIN_RATE_PER_USER_ALL_ADDRESSES),
    ]


class LoginAttempt:
    """One attempt's place in the login counters; see login_attempt."""

    def __init__(self):
        self._counted: list[tuple[str, str, str]] = []
        self.is_failure = False

    def failed(self) -> None:
        """The credentials were wrong (or the user inactive, or not staff for the admin)."""
        self.is_failure = True

    def count(self, group: str, key: str, rate: str) -> dict | None:
        """Add this attempt to one counter; the usage with the failures so far in `count`."""
        # django-ratelimit can only add, so refunds are a second counter of the same window:
        # a window's failures are its attempts less its refunds. The refunds are read *before*
        # this attempt is added: every refund read then is an earlier attempt's, so the
        # difference can only overstate the failures ahead of this one. Read after, it could
        # include a later attempt's refund and let one past the limit while others are refused.
        second = int(time.time())
        refunds = _usage(group=f"{group}.refunds", key=key, rate=rate, increment=False)
        usage = _usage(group=group, key=key, rate=rate, increment=True)
        if usage is None:  # Redis down: fail open, like every limit
            return None
        self._counted.append((group, key, rate))
        # Both counters share the key, hence the window. Windows end on whole seconds, so two
        # reads in one second read one window; across a second, a window that ended in between
        # shows as more time left on the second read. At 0 s left (always, for a per-second
        # rate) that cannot be told apart: then, as for a window that did end, the refunds are
        # the old window's and none of the new one's are known yet (the strict side).
        same_window = refunds is not None and (
            int(time.time()) == second or refunds["time_left"] >= usage["time_left"] > 0
        )
        return {**usage, "count": usage["count"] - (refunds["count"] if same_window else 0)}

    def refund(self) -> None:
        for group, key, rate in self._counted:
            _usage(group=f"{group}.refunds", key=key, rate=rate, increment=True)
        self._counted = []


@contextmanager
def login_attempt(*, username: str, ip: str) -> Iterator[LoginAttempt]:
    """Count a login attempt as a failure unless the block says otherwise: 429 at the limit.

    The attempt is counted before the password is checked and refunded unless the block calls
    failed(): a success (or an error that checked nothing) leaves no trace, and attempts sent
    together cannot all pass a check that has not yet seen the others' failures. An attempt
    one limit refuses is refunded from the others it was counted in: an owner retrying while
    the ceiling over all addresses holds must not use up their own address's limit meanwhile.
    """
    attempt = LoginAttempt()
    for group, key, rate in _login_limits(username=username, ip=ip):
        usage = attempt.count(group, key, rate) if rate else None
        if usage and usage["count"] > usage["limit"]:
            attempt.refund()
            _refuse(usage, LOGIN_MESSAGE)
    try:
        yield attempt
    finally:
        if not attempt.is_failure:
            attempt.refund()
