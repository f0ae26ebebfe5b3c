"""The replica router sends only opted-in, non-locking reads outside transactions to the
replica, and nothing at all when no replica is configured."""

import pytest
from django.db import transaction

from chatbackend import db_router
from chatbackend.db_router import ReplicaRouter, expected_page_size, replica_reads
from messaging_app.models import ChatMessage


def test_it_reads_from_the_primary_when_no_replica_is_configured():
    router = ReplicaRouter()
    with replica_reads() as on_replica:
        assert on_replica is False
        assert router.db_for_read(ChatMessage) is None
    assert router.db_for_write(ChatMessage) == "default"


@pytest.fixture
def replica(monkeypatch):
    monkeypatch.setattr(db_router, "replica_configured", lambda: True)


def test_only_reads_inside_replica_reads_go_to_the_replica(replica):
    router = ReplicaRouter()
    assert router.db_for_read(ChatMessage) is None
    with replica_reads() as on_replica:
        assert on_replica is True
        assert router.db_for_read(ChatMessage) == "replica"
        with db_router.primary_reads():
            assert router.db_for_read(ChatMessage) is None
    assert router.db_for_read(ChatMessage) is None
    assert router.db_for_write(ChatMessage) == "default"
    assert router.allow_migrate("replica", "messaging_app") is False
    assert router.allow_migrate("default", "messaging_app") is True


@pytest.mark.django_db
def test_reads_inside_a_transaction_stay_on_the_primary(replica):
    router = ReplicaRouter()
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(ChatMessage) is None


def test_expected_page_size_follows_gapless_numbering():
    assert expected_page_size(total=120, start=100, limit=50) == 20
    assert expected_page_size(total=120, start=0, limit=50) == 50
    assert expected_page_size(total=120, start=120, limit=50) == 0
    assert expected_page_size(total=10, start=20, limit=50) == 0
