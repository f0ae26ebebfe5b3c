"""Bank data the Banking and MCP agents answer from, per user, and the audit trail of changes."""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

MONEY = {"max_digits": 14, "decimal_places": 2}


class AccountType(models.TextChoices):
    CHECKING = "checking"
    SAVINGS = "savings"
    CREDIT = "credit"


class Account(models.Model):
    """A user's account. For credit accounts `balance` is negative when money is owed and may
    go down to `-credit_limit`; other accounts may not go below zero."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=150)  # the chat user id (username), as in chat_sessions
    account_type = models.CharField(max_length=20, choices=AccountType.choices)
    name = models.CharField(max_length=100)
    number_last4 = models.CharField(max_length=4)
    currency = models.CharField(max_length=3, default="USD")
    balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    credit_limit = models.DecimalField(**MONEY, default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "bank_accounts"
        ordering = ["user_id", "account_type", "created_at"]
        indexes = [models.Index(fields=["user_id", "account_type"], name="idx_bank_account_user")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance__gte=-models.F("credit_limit")),
                name="bank_account_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ****{self.number_last4} ({self.user_id})"

    @property
    def available(self) -> Decimal:
        return self.balance + self.credit_limit


class CardStatus(models.TextChoices):
    ACTIVE = "active"
    BLOCKED = "blocked"


class Card(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=150)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="cards")
    card_type = models.CharField(max_length=10, choices=[("debit", "debit"), ("credit", "credit")])
    last4 = models.CharField(max_length=4)
    status = models.CharField(max_length=10, choices=CardStatus.choices, default=CardStatus.ACTIVE)
    expires = models.CharField(max_length=5)  # MM/YY, as printed on the card
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "bank_cards"
        ordering = ["user_id", "last4"]
        indexes = [models.Index(fields=["user_id"], name="idx_bank_card_user")]

    def __str__(self) -> str:
        return f"{self.card_type} card ****{self.last4} ({self.status})"


class Transfer(models.Model):
    """Money moved from one of the user's accounts to another account or an outside payee."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=150)
    from_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    to_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    payee = models.CharField(max_length=100, blank=True, default="")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=140, blank=True, default="")
    # Makes a retried request (MCP tool call, resent chat message) move money only once. Unique
    # per user: a key another customer happened to use must neither block nor reveal anything.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "bank_transfers"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="bank_transfer_positive"),
            models.UniqueConstraint(
                fields=["user_id", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="uniq_bank_transfer_user_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} from {self.from_account_id}"


class BankTransaction(models.Model):
    """A booked movement on an account: negative amounts are money out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="transactions")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    description = models.CharField(max_length=200)
    counterparty = models.CharField(max_length=100, blank=True, default="")
    category = models.CharField(max_length=50, blank=True, default="")
    transfer = models.ForeignKey(
        Transfer, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    booked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "bank_transactions"
        ordering = ["-booked_at"]
        indexes = [models.Index(fields=["account", "booked_at"], name="idx_bank_txn_account_time")]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.description}"


class AuditRecord(models.Model):
    """Every banking state change, written in the same transaction as the change itself."""

    id = models.BigAutoField(primary_key=True)
    # who asked: a user id, "staff:<name>", "mcp:<user>" (a username is up to 150 characters)
    actor = models.CharField(max_length=160)
    user_id = models.CharField(max_length=150)  # whose data changed
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        db_table = "bank_audit_log"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user_id", "created_at"], name="idx_bank_audit_user")]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor}"
