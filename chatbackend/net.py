"""The client's address: X-Forwarded-For is believed only when it comes from our own proxy."""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=1)
def _trusted_networks() -> tuple:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.TRUSTED_PROXIES)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


def client_ip(request) -> str:
    """REMOTE_ADDR, or, behind a trusted proxy, the nearest address the proxies did not add.

    A client can put anything in X-Forwarded-For; walking it from the right and stopping at the
    first hop that is not one of our proxies means a spoofed entry is never chosen.
    """
    remote = request.META.get("REMOTE_ADDR") or "0.0.0.0"  # noqa: S104 - a key, not a bind
    if not _is_trusted(remote):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote
