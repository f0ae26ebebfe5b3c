"""Every change to bank data: atomic, checked against the owner, and audited in the same
transaction."""

import re
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F

from agents_app.models import Account, AuditRecord, BankTransaction, Card, CardStatus, Transfer
from agents_app.selectors import card_for_user, parse_uuid
from chatbackend.errors import Conflict, NotFound, ValidationFailed
from chatbackend.validation import unstorable_text

MAX_TRANSFER = Decimal("10000.00")


def audit(*, actor: str, user_id: str, action: str, obj, data: dict | None = None) -> None:
    AuditRecord.objects.create(
        actor=actor,
        user_id=user_id,
        action=action,
        object_type=obj.__class__.__name__.lower(),
        object_id=str(obj.pk),
        data=data or {},
    )


def parse_amount(raw) -> Decimal:
    """A positive amount with at most two decimals; floats are refused (money is Decimal)."""
    if isinstance(raw, float):
        raw = repr(raw)
    try:
        amount = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("amount must be a number", details={"field": "amount"}) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed("amount must be positive", details={"field": "amount"})
    # Before quantize: 1e30 has more digits than Decimal's context holds, and quantize raises.
    if amount > MAX_TRANSFER:
        raise ValidationFailed(
            f"transfers above {MAX_TRANSFER} need a branch", details={"field": "amount"}
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("amount must have at most two decimals", details={"field": "amount"})
    return amount


def _clean_text(raw, *, field: str, max_length: int) -> str:
    """A payee or reference: a string PostgreSQL can store, trimmed to its column."""
    if not isinstance(raw, str) or unstorable_text(raw):
        raise ValidationFailed(f"{field} must be plain text", details={"field": field})
    return raw.strip()[:max_length]


def _clean_key(raw, *, field: str, max_length: int) -> str:
    """An identifier: stored and compared exactly as given, so refused rather than trimmed."""
    if not isinstance(raw, str) or unstorable_text(raw) or len(raw) > max_length:
        raise ValidationFailed(
            f"{field} must be text of at most {max_length} characters", details={"field": field}
        )
    return raw


def transfer_create(
    *,
    actor: str,
    user_id: str,
    from_account_id,
    amount,
    to_account_id=None,
    payee: str = "",
    reference: str = "",
    idempotency_key: str | None = None,
) -> Transfer:
    """Move money once: both accounts locked, overdraft refused, two bookings and an audit
    record committed together. A repeated `idempotency_key` returns the first transfer."""
    amount = parse_amount(amount)
    payee = _clean_text(payee, field="payee", max_length=100)
    reference = _clean_text(reference, field="reference", max_length=140)
    if idempotency_key is not None:
        idempotency_key = _clean_key(idempotency_key, field="idempotency_key", max_length=200)
    to_id = None
    if to_account_id is not None:
        to_id = parse_uuid(to_account_id)
        if to_id is None:  # never read as "no destination": that would pay out to nobody
            raise NotFound("Destination account not found", code="account_not_found")
    if to_id is None and not payee:
        raise ValidationFailed("a destination account or payee is required")
    request = {
        "from_id": parse_uuid(from_account_id),
        "to_id": to_id,
        "amount": amount,
        "payee": payee,
    }
    if idempotency_key:
        done = Transfer.objects.filter(idempotency_key=idempotency_key, user_id=user_id).first()
        if done is not None:
            return _same_transfer(done, request)

    try:
        with transaction.atomic():
            return _transfer_locked(
                actor=actor,
                user_id=user_id,
                **request,
                reference=reference,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its transfer.
        if idempotency_key:
            done = Transfer.objects.filter(idempotency_key=idempotency_key, user_id=user_id)
            if done.exists():
                return _same_transfer(done.get(), request)
        raise


def _same_transfer(done: Transfer, request: dict) -> Transfer:
    """The transfer an idempotency key already made, if the request asks for the same one."""
    made = {
        "from_id": done.from_account_id,
        "to_id": done.to_account_id,
        "amount": done.amount,
        "payee": done.payee,
    }
    if made != request:
        raise Conflict(
            "idempotency_key was already used for a different transfer",
            code="duplicate_idempotency_key",
        )
    return done


def _transfer_locked(
    *, actor, user_id, from_id, to_id, amount, payee, reference, idempotency_key
) -> Transfer:
    ids = [i for i in (from_id, to_id) if i is not None]
    # Locks taken in id order, so two opposite transfers cannot deadlock each other.
    locked = {
        a.pk: a for a in Account.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    source = locked.get(from_id)
    if source is None or source.user_id != user_id:
        raise NotFound("Account not found", code="account_not_found")
    target = locked.get(to_id) if to_id is not None else None
    if to_id is not None and (target is None or target.user_id != user_id):
        # Transfers between customers go by payee name; ids of other people's accounts
        # are never accepted.
        raise NotFound("Destination account not found", code="account_not_found")
    if target is not None and target.pk == source.pk:
        raise ValidationFailed("source and destination must differ")
    if target is not None and target.currency != source.currency:
        raise ValidationFailed("accounts in different currencies cannot be transferred between")
    if source.available < amount:
        raise Conflict(
            "Insufficient funds for this transfer",
            code="insufficient_funds",
            details={"available": str(source.available), "currency": source.currency},
        )

    transfer = Transfer.objects.create(
        user_id=user_id,
        from_account=source,
        to_account=target,
        payee=payee,
        amount=amount,
        currency=source.currency,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    to_label = target.name if target else payee
    Account.objects.filter(pk=source.pk).update(balance=F("balance") - amount)
    bookings = [
        BankTransaction(
            account=source,
            amount=-amount,
            currency=source.currency,
            description=f"Transfer to {to_label}",
            counterparty=to_label,
            category="transfer",
            transfer=transfer,
        )
    ]
    if target is not None:
        Account.objects.filter(pk=target.pk).update(balance=F("balance") + amount)
        bookings.append(
            BankTransaction(
                account=target,
                amount=amount,
                currency=target.currency,
                description=f"Transfer from {source.name}",
                counterparty=source.name,
                category="transfer",
                transfer=transfer,
            )
        )
    BankTransaction.objects.bulk_create(bookings)
    audit(
        actor=actor,
        user_id=user_id,
        action="transfer.create",
        obj=transfer,
        data={
            "from": str(source.pk),
            "to": str(target.pk) if target else None,
            "payee": payee,
            "amount": str(amount),
            "currency": source.currency,
        },
    )
    return transfer


@transaction.atomic
def card_set_status(*, actor: str, user_id: str, blocked: bool, card_id=None, last4=None) -> Card:
    """Block or unblock one of the user's cards (idempotent), with an audit record."""
    if card_id is None and not last4:
        raise ValidationFailed("which card? give its id or last four digits")
    if last4 is not None and not (isinstance(last4, str) and re.fullmatch(r"[0-9]{4}", last4)):
        raise ValidationFailed("last4 must be four digits", details={"field": "last4"})
    card = card_for_user(user_id=user_id, card_id=card_id, last4=last4)
    card = Card.objects.select_for_update().get(pk=card.pk)
    wanted = CardStatus.BLOCKED if blocked else CardStatus.ACTIVE
    if card.status != wanted:
        previous = card.status
        card.status = wanted
        card.save(update_fields=["status", "updated_at"])
        audit(
            actor=actor,
            user_id=user_id,
            action="card.block" if blocked else "card.unblock",
            obj=card,
            data={"from": previous, "to": wanted, "last4": card.last4},
        )
    return card


# Rows keyed by the customer's username; audit records are not among them (they stay as written).
_KEYED_BY_USER = (Account, Card, Transfer)


def bank_data_retire_user(*, user_id: str, tombstone: str, user_pk) -> dict[str, int]:
    """A deleted customer's accounts, cards and transfers: kept for the bank's records, but
    re-keyed so that a new account with the same username never sees or moves them."""
    return _rekey(user_id, tombstone, user_pk, "user.retire", {"formerUserId": user_id})


def bank_data_move_user(*, old_user_id: str, new_user_id: str, user_pk) -> dict[str, int]:
    """A renamed customer keeps their accounts, cards and transfers."""
    return _rekey(
        old_user_id, new_user_id, user_pk, "user.rename", {"from": old_user_id, "to": new_user_id}
    )


@transaction.atomic
def _rekey(old: str, new: str, user_pk, action: str, data: dict) -> dict[str, int]:
    """Every row keyed by `old` now keyed by `new`, and one audit record saying so."""
    moved = {
        model._meta.db_table: model.objects.filter(user_id=old).update(user_id=new)
        for model in _KEYED_BY_USER
    }
    AuditRecord.objects.create(
        actor="system",
        user_id=new,
        action=action,
        object_type="user",
        object_id=str(user_pk),
        data={**data, **moved},
    )
    return moved
