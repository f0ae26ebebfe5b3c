"""Reads of bank data, always scoped to one user: no id from a client reaches a query alone."""

from datetime import date, datetime, time
from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from agents_app.models import Account, BankTransaction, Card
from chatbackend.errors import NotFound

MAX_TRANSACTIONS = 100


def parse_uuid(value) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return None


def accounts_for_user(*, user_id: str) -> list[Account]:
    return list(Account.objects.filter(user_id=user_id).order_by("account_type", "created_at"))


def account_for_user(*, user_id: str, account_id=None, account_type: str | None = None) -> Account:
    """One of the user's accounts by id or type; NotFound for anyone else's."""
    qs = Account.objects.filter(user_id=user_id)
    if account_id is not None:
        qs = qs.filter(pk=parse_uuid(account_id))
    elif account_type:
        qs = qs.filter(account_type=account_type).order_by("created_at")
    account = qs.first()
    if account is None:
        raise NotFound("Account not found", code="account_not_found")
    return account


def cards_for_user(*, user_id: str) -> list[Card]:
    return list(Card.objects.filter(user_id=user_id).select_related("account"))


def card_for_user(*, user_id: str, card_id=None, last4: str | None = None) -> Card:
    qs = Card.objects.filter(user_id=user_id)
    if card_id is not None:
        qs = qs.filter(pk=parse_uuid(card_id))
    if last4:
        qs = qs.filter(last4=last4)
    card = qs.first()
    if card is None:
        raise NotFound("Card not found", code="card_not_found")
    return card


def transactions_for_user(
    *,
    user_id: str,
    account: Account | None = None,
    start: date | None = None,
    end: date | None = None,
    limit: int = 10,
) -> QuerySet[BankTransaction]:
    """The user's transactions, newest first, optionally on one account and within dates."""
    qs = BankTransaction.objects.filter(account__user_id=user_id).select_related("account")
    if account is not None:
        qs = qs.filter(account=account)
    tz = timezone.get_current_timezone()
    if start:
        qs = qs.filter(booked_at__gte=datetime.combine(start, time.min, tzinfo=tz))
    if end:
        qs = qs.filter(booked_at__lte=datetime.combine(end, time.max, tzinfo=tz))
    return qs.order_by("-booked_at")[: max(1, min(limit, MAX_TRANSACTIONS))]
