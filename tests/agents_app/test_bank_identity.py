"""Bank data is keyed by username, so it follows the account (chatbackend.user_identity): a
deleted customer's accounts, cards and transfers never pass to a new account with the same
name, and a renamed customer keeps theirs."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from agents_app.demo_data import seed_demo
from agents_app.models import Account, AuditRecord, Card, Transfer
from agents_app.selectors import accounts_for_user
from agents_app.services import transfer_create

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def alice():
    seed_demo(days=3)  # users test and alice, each with accounts and cards
    alice = User.objects.get(username="alice")
    checking = Account.objects.get(user_id="alice", account_type="checking")
    transfer_create(
        actor="alice",
        user_id="alice",
        from_account_id=str(checking.pk),
        amount="5.00",
        payee="Bob",
        idempotency_key="rent-1",
    )
    return alice


def owned(user_id: str) -> tuple[int, int, int]:
    return tuple(m.objects.filter(user_id=user_id).count() for m in (Account, Card, Transfer))


def test_a_new_account_with_a_deleted_customers_name_gets_none_of_their_bank_data(alice):
    before = owned("alice")
    pk = alice.pk

    alice.delete()
    newcomer = User.objects.create_user(username="alice", password="another-pass-123")

    assert owned("alice") == (0, 0, 0)
    assert list(accounts_for_user(user_id=newcomer.get_username())) == []
    assert owned(f"deleted:{pk}") == before  # kept for the bank's records, out of reach
    retired = AuditRecord.objects.get(action="user.retire")
    assert retired.data["formerUserId"] == "alice" and retired.user_id == f"deleted:{pk}"
    # The old idempotency key is not the newcomer's: their own "rent-1" makes a new transfer.
    checking = Account.objects.create(
        user_id="alice",
        name="Checking",
        account_type="checking",
        number_last4="9999",
        balance=Decimal("100.00"),
    )
    mine = transfer_create(
        actor="alice",
        user_id="alice",
        from_account_id=str(checking.pk),
        amount="1.00",
        payee="Bob",
        idempotency_key="rent-1",
    )
    assert mine.from_account_id == checking.pk
    assert Transfer.objects.filter(idempotency_key="rent-1").count() == 2


def test_a_renamed_customer_keeps_their_bank_data(alice):
    before = owned("alice")
    longest = "a" * 150  # the longest Django username fits every user_id column

    alice.username = longest
    alice.save()

    assert owned(longest) == before and owned("alice") == (0, 0, 0)
    renamed = AuditRecord.objects.get(action="user.rename")
    assert renamed.data["from"] == "alice" and renamed.data["to"] == longest


@pytest.mark.django_db(transaction=True)
def test_a_rename_moves_every_apps_rows_together_or_none(alice):
    # Outside any transaction (a shell): a receiver that fails after the others have moved
    # their rows must leave all of them where they were.
    from chatbackend import user_identity
    from sessions_app.models import ChatSession
    from sessions_app.services import session_create

    session_create(actor=alice)
    before = owned("alice")

    def fails(sender, **kwargs):
        raise RuntimeError("a later app could not move its rows")

    user_identity.username_changed.connect(fails, dispatch_uid="test_fails_last")
    try:
        alice.username = "alicia"
        with pytest.raises(RuntimeError):
            alice.save()
    finally:
        user_identity.username_changed.disconnect(dispatch_uid="test_fails_last")

    assert owned("alice") == before and owned("alicia") == (0, 0, 0)
    assert ChatSession.objects.filter(user_id="alice").count() == 1
