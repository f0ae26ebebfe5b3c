"""agents_app.services: money moves only to a real destination, once per idempotency key and
user, and bad amounts or texts are field errors, never crashes."""

from decimal import Decimal

import pytest

from agents_app.demo_data import seed_demo
from agents_app.models import Account, Card, Transfer
from agents_app.services import card_set_status, transfer_create
from chatbackend.errors import Conflict, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts() -> dict[str, Account]:
    seed_demo(days=3)  # users test and alice, with checking and savings accounts each
    mine = Account.objects.filter(user_id="alice")
    return {a.account_type: a for a in mine} | {
        "theirs": Account.objects.filter(user_id="test").first()
    }


def send(accounts, **changes):
    request = {
        "actor": "test:alice",
        "user_id": "alice",
        "from_account_id": str(accounts["checking"].pk),
        "amount": "7.00",
        "payee": "Bob Smith",
    }
    return transfer_create(**(request | changes))


def balance(account: Account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def test_a_destination_id_that_is_not_an_id_pays_nobody(accounts):
    before = balance(accounts["checking"])
    with pytest.raises(NotFound):
        send(accounts, to_account_id="nonsense", payee="")
    with pytest.raises(NotFound):
        send(accounts, to_account_id="nonsense")  # not even with a payee beside it
    assert balance(accounts["checking"]) == before
    assert not Transfer.objects.exists()


@pytest.mark.parametrize("amount", ["1e30", 1e308, "1e-30", "-5", "NaN", "Infinity", "12.345"])
def test_bad_amounts_are_field_errors(accounts, amount):
    with pytest.raises(ValidationFailed) as refused:
        send(accounts, amount=amount)
    assert refused.value.details == {"field": "amount"}
    assert not Transfer.objects.exists()


@pytest.mark.parametrize("field", ["payee", "reference"])
def test_texts_postgres_cannot_store_are_field_errors(accounts, field):
    with pytest.raises(ValidationFailed) as refused:
        send(accounts, **{field: "Bob\x00Smith"})
    assert refused.value.details == {"field": field}


@pytest.mark.parametrize("key", ["key\x00one", "\ud800", "k" * 201, 12])
def test_bad_idempotency_keys_are_field_errors(accounts, key):
    with pytest.raises(ValidationFailed) as refused:
        send(accounts, idempotency_key=key)
    assert refused.value.details == {"field": "idempotency_key"}
    assert not Transfer.objects.exists()


@pytest.mark.parametrize("last4", ["12\x0034", "12345", "123", "abcd", 1234])
def test_a_card_named_by_anything_but_four_digits_is_a_field_error(accounts, last4):
    card = Card.objects.filter(user_id="alice").first()
    with pytest.raises(ValidationFailed) as refused:
        card_set_status(actor="test:alice", user_id="alice", blocked=True, last4=last4)
    assert refused.value.details == {"field": "last4"}
    card.refresh_from_db()
    assert card.status == "active"


def test_idempotency_keys_belong_to_each_user(accounts):
    send(accounts, idempotency_key="shared-key-1")
    theirs = transfer_create(
        actor="test:test",
        user_id="test",
        from_account_id=str(accounts["theirs"].pk),
        amount="3.00",
        payee="Carol",
        idempotency_key="shared-key-1",
    )
    assert theirs.user_id == "test" and theirs.amount == Decimal("3.00")
    assert Transfer.objects.count() == 2


def test_a_key_reused_for_another_transfer_is_a_conflict(accounts):
    first = send(accounts, idempotency_key="k-1")
    assert send(accounts, idempotency_key="k-1") == first  # the same request: the same transfer
    with pytest.raises(Conflict):
        send(accounts, idempotency_key="k-1", amount="8.00")
    assert Transfer.objects.count() == 1
