"""Read routing to a PostgreSQL replica, for history pages and session lists only.

Off unless settings define a `replica` database and list this router (docs/scaling.md gives
the exact settings lines, driven by DATABASE_REPLICA_URL). Even then, nothing goes to the
replica by default: only reads made inside `replica_reads()` do, and never a locking read
(`select_for_update`) or a read inside a transaction on the primary, so the turn's row lock,
numbering and idempotency checks always see the primary.

A replica lags. Because sequence numbers are gapless, a history page knows exactly which rows
it must contain (`expected_page_size`): a caller that gets fewer from the replica reads the
page again from the primary, so lag never shows as a missing message.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connections, transaction

REPLICA = "replica"
_reads_to_replica: ContextVar[bool] = ContextVar("reads_to_replica", default=False)


@contextmanager
def replica_reads() -> Iterator[bool]:
    """Plain reads inside go to the replica when one is configured; yields whether it is."""
    token = _reads_to_replica.set(True)
    try:
        yield replica_configured()
    finally:
        _reads_to_replica.reset(token)


@contextmanager
def primary_reads() -> Iterator[None]:
    """Back to the primary inside a `replica_reads()` block (e.g. a retry after lag)."""
    token = _reads_to_replica.set(False)
    try:
        yield
    finally:
        _reads_to_replica.reset(token)


def replica_configured() -> bool:
    return REPLICA in connections.settings


def expected_page_size(*, total: int, start: int, limit: int) -> int:
    """Rows a complete page after `start` holds, given the primary's `message_count`."""
    return max(0, min(limit, total - start))


class ReplicaRouter:
    """DATABASE_ROUTERS = ["chatbackend.db_router.ReplicaRouter"]."""

    def db_for_read(self, model, **hints):
        if not _reads_to_replica.get() or not replica_configured():
            return None
        # Inside a transaction on the primary (a turn, a resume), reads must see its writes.
        if transaction.get_connection("default").in_atomic_block:
            return None
        return REPLICA

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA
