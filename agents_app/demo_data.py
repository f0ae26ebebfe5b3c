"""Deterministic demo customers and bank data for `manage.py seed_demo`."""

import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agents_app.models import Account, BankTransaction, Card, Transfer
from sessions_app.management.support import support_group_ensure

# The seed README's example user comes first; the others give staff something to look at.
DEMO_USERS = [
    ("test", "test123", False),
    ("alice", "alice123", False),
    ("support", "support123", True),
]
MERCHANTS = [
    ("Grocery Mart", "groceries", (15, 120)),
    ("City Power & Light", "utilities", (40, 160)),
    ("Netflix", "entertainment", (10, 20)),
    ("Shell", "fuel", (25, 80)),
    ("Amazon", "shopping", (10, 250)),
    ("Blue Bottle Coffee", "dining", (3, 12)),
    ("Metro Transit", "transport", (2, 40)),
]


@dataclass
class SeedSummary:
    users: int = 0
    accounts: int = 0
    cards: int = 0
    transactions: int = 0


def _delete_bank_data(user_id: str) -> None:
    """A demo user's accounts and all that hangs off them, transfers first: a transfer protects
    the accounts it moved money between."""
    transfers = Transfer.objects.filter(user_id=user_id)
    BankTransaction.objects.filter(transfer__in=transfers).delete()
    transfers.delete()
    Account.objects.filter(user_id=user_id).delete()


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


@transaction.atomic
def seed_demo(*, days: int = 90, reset: bool = False) -> SeedSummary:
    """Create (or with `reset`, recreate) the demo users and their bank data."""
    summary = SeedSummary()
    user_model = get_user_model()
    now = timezone.now()
    for index, (username, password, is_staff) in enumerate(DEMO_USERS):
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": is_staff}
        )
        if created or reset:
            user.set_password(password)
            user.is_staff = is_staff
            user.save()
            summary.users += 1
        if is_staff:
            # What the README promises the demo staff user: the support desk's permissions.
            user.groups.add(support_group_ensure())
            continue
        if reset:
            _delete_bank_data(username)
        if Account.objects.filter(user_id=username).exists():
            continue
        rng = random.Random(f"{username}-{index}")  # noqa: S311 - demo data, not security
        checking = Account.objects.create(
            user_id=username,
            account_type="checking",
            name="Everyday Checking",
            number_last4=f"{1000 + index * 11}",
            currency="USD",
            balance=Decimal("5432.10"),
        )
        savings = Account.objects.create(
            user_id=username,
            account_type="savings",
            name="Rainy Day Savings",
            number_last4=f"{2000 + index * 11}",
            currency="USD",
            balance=Decimal("12500.00"),
        )
        credit = Account.objects.create(
            user_id=username,
            account_type="credit",
            name="Rewards Credit Card",
            number_last4=f"{3000 + index * 11}",
            currency="USD",
            balance=Decimal("-420.35"),
            credit_limit=Decimal("3000.00"),
        )
        summary.accounts += 3
        Card.objects.create(
            user_id=username,
            account=checking,
            card_type="debit",
            last4="4242" if index == 0 else f"{4300 + index}",
            expires="08/29",
        )
        Card.objects.create(
            user_id=username,
            account=credit,
            card_type="credit",
            last4="5555" if index == 0 else f"{5600 + index}",
            expires="11/28",
        )
        summary.cards += 2
        rows = []
        for day in range(days):
            booked = now - timedelta(days=day, hours=rng.randint(0, 12))
            for _ in range(rng.randint(0, 2)):
                merchant, category, (low, high) = rng.choice(MERCHANTS)
                account = credit if category in {"shopping", "entertainment"} else checking
                rows.append(
                    BankTransaction(
                        account=account,
                        amount=-_money(rng, low, high),
                        currency="USD",
                        description=f"Card payment {merchant}",
                        counterparty=merchant,
                        category=category,
                        booked_at=booked,
                    )
                )
            if booked.day == 1:
                rows.append(
                    BankTransaction(
                        account=checking,
                        amount=Decimal("3200.00"),
                        currency="USD",
                        description="Salary ACME Corp",
                        counterparty="ACME Corp",
                        category="income",
                        booked_at=booked,
                    )
                )
        rows.append(
            BankTransaction(
                account=savings,
                amount=Decimal("12500.00"),
                currency="USD",
                description="Opening deposit",
                counterparty="",
                category="deposit",
                booked_at=now - timedelta(days=days),
            )
        )
        BankTransaction.objects.bulk_create(rows)
        summary.transactions += len(rows)
    return summary
