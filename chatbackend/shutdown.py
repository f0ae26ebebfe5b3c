"""Graceful shutdown for WebSockets: on SIGTERM every socket finishes the message it is
handling, is closed with 1001 ("going away"), and only then does the server stop.

The server (daphne or uvicorn) owns SIGTERM; we chain in front of its handler the first time a
socket opens, from the event loop's (main) thread, and call the server's handler when done.
"""

import asyncio
import contextlib
import logging
import os
import signal
import time
import weakref

logger = logging.getLogger(__name__)
DRAIN_SECONDS = 10.0

_sockets: "weakref.WeakSet" = weakref.WeakSet()
_installed = False
_draining = False


def is_draining() -> bool:
    return _draining


def track(socket) -> None:
    """Register an open socket (an object with `async drain()`), installing the handler once."""
    _sockets.add(socket)
    _install(asyncio.get_running_loop())


def untrack(socket) -> None:
    _sockets.discard(socket)


# On shutdown a socket closes once it has been idle this long, so frames a client sent just
# before SIGTERM (queued behind the one in hand) are still answered.
DRAIN_QUIET_SECONDS = 0.3


# What a socket tells a client that sends while it drains; nothing was stored.
RESTARTING = ("shutting_down", "This server is restarting; reconnect and resend")


class Inbound:
    """One socket's incoming frames as the drain sees them, for both live transports: whether
    one is being handled, when the last one came, and whether the socket has stopped taking
    them (`closing`: the transport answers RESTARTING instead)."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()  # set while no frame is being handled
        self.idle.set()
        self.last_at = time.monotonic()
        self.closing = False

    @contextlib.asynccontextmanager
    async def handling(self):
        """Around the handling of one frame."""
        self.last_at = time.monotonic()
        self.idle.clear()
        try:
            yield
        finally:
            self.last_at = time.monotonic()
            self.idle.set()

    async def close_when_quiet(self) -> None:
        """Return once no frame is being handled and none has come for DRAIN_QUIET_SECONDS,
        with `closing` set, so none is taken after."""
        while True:
            await self.idle.wait()
            quiet_for = time.monotonic() - self.last_at
            if quiet_for >= DRAIN_QUIET_SECONDS:
                self.closing = True
                return
            await asyncio.sleep(DRAIN_QUIET_SECONDS - quiet_for)


def _install(loop: asyncio.AbstractEventLoop) -> None:
    global _installed
    if _installed:
        return
    try:
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum, frame):
            loop.call_soon_threadsafe(
                lambda: loop.create_task(_drain_then(previous, signum, frame))
            )

        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread (some test runners): no graceful drain there
        return
    _installed = True


async def _drain_then(previous, signum, frame) -> None:
    global _draining
    if _draining:
        return
    _draining = True
    sockets = list(_sockets)
    logger.info("SIGTERM: draining %d WebSocket connection(s)", len(sockets))
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            await asyncio.gather(*(s.drain() for s in sockets), return_exceptions=True)
    except TimeoutError:
        logger.warning("SIGTERM: drain timed out after %.0fs", DRAIN_SECONDS)
    await asyncio.sleep(0.2)  # let the close frames leave
    if callable(previous):
        previous(signum, frame)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
