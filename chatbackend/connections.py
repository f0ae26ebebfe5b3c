"""Open WebSocket connections on this process, reported by /health."""

import threading

_lock = threading.Lock()
_open = 0


def socket_opened() -> None:
    global _open
    with _lock:
        _open += 1


def socket_closed() -> None:
    global _open
    with _lock:
        _open = max(0, _open - 1)


def open_sockets() -> int:
    return _open
