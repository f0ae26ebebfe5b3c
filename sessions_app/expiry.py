"""Sessions idle past their TTL become `expired` without anyone scheduling a job.

Each server process sweeps every SESSION_SWEEP_SECONDS (`sessions_expire_idle`: an UPDATE of
the sessions due, a thousand per transaction, then `session:updated` to their sockets).
Several processes and instances sweeping side by side is safe: the sweep skips rows another
transaction holds and only touches sessions still active and due. `manage.py expire_sessions`
does the same once, from cron, for deployments that turn the sweeper off
(SESSION_SWEEP_SECONDS=0).
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from sessions_app.services import sessions_expire_idle

logger = logging.getLogger(__name__)
_sweeper: asyncio.Task | None = None


def start_sweeper() -> None:
    """Start this process's sweeper on the running event loop, once (the ASGI app calls it)."""
    global _sweeper
    if settings.SESSION_SWEEP_SECONDS <= 0 or (_sweeper is not None and not _sweeper.done()):
        return
    _sweeper = asyncio.get_running_loop().create_task(_sweep_forever())


async def _sweep_forever() -> None:
    expire = sync_to_async(sessions_expire_idle, thread_sensitive=False)
    while True:
        await asyncio.sleep(settings.SESSION_SWEEP_SECONDS)
        try:
            count = await expire()
        except DatabaseError as exc:  # the database is away: the next sweep catches up
            logger.warning("session expiry sweep failed: %s", exc.__class__.__name__)
            continue
        if count:
            logger.info("expired %d idle session(s)", count)
