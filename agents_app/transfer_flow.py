"""The Banking agent's money transfer and bill payment conversation: collect the source,
destination and amount over as many turns as it takes, confirm the complete transfer, and only
then move the money. Its progress lives in the session's conversation context
(`pendingTransfer`)."""

import re
import uuid
from decimal import Decimal

from django.db import transaction

from agents_app.replies import AgentReply, format_money
from agents_app.selectors import account_for_user, accounts_for_user
from agents_app.services import parse_amount, transfer_create
from chatbackend.errors import ServiceError

ACCOUNT_LABELS = {"checking": "Checking", "savings": "Savings", "credit": "Credit"}
PLAIN_AMOUNT = re.compile(r"^\s*[$€£]?\s*(\d{1,7}(?:[.,]\d{1,2})?)\s*$")


def entities_of(nlp, type_: str) -> list:
    """The NLP agent's entities of one type (none when it did not run)."""
    return [e for e in (nlp.entities if nlp else []) if e.type == type_]


def _role_of(text: str, start: int) -> str | None:
    """Whether an account mention is the source ("from savings") or the target ("to savings")."""
    before = text[max(0, start - 12) : start].lower()
    if re.search(r"\bfrom\s+(my\s+|the\s+)?$", before):
        return "from"
    if re.search(r"\b(to|into|in)\s+(my\s+|the\s+)?$", before):
        return "to"
    return None


class TransferConversation:
    """BankingAgent's transfer turns (a mixin: the agent dispatches intents to these)."""

    def _money_transfer(self, user_id, text, nlp, context) -> AgentReply:
        pending = {"id": uuid.uuid4().hex, "stage": "collecting"}
        return self._continue_transfer(user_id, text, nlp, pending, "money_transfer")

    def _bill_payment(self, user_id, text, nlp, context) -> AgentReply:
        pending = {
            "id": uuid.uuid4().hex,
            "stage": "collecting",
            "kind": "bill",
            "from": "checking",
        }
        return self._continue_transfer(user_id, text, nlp, pending, "bill_payment")

    def _continue_transfer(self, user_id, text, nlp, pending: dict, intent: str) -> AgentReply:
        pending = dict(pending)
        if intent == "negation" or re.search(r"\bcancel\b", text, re.I):
            return AgentReply(
                "Okay, I cancelled that transfer. Nothing was moved.",
                context={"pendingTransfer": None},
            )
        if pending["stage"] == "confirming" and intent == "affirmation":
            return self._execute_transfer(user_id, pending)
        # Anything else, even in the confirm step, may fill or amend details; then we ask again.
        self._fill_transfer_slots(pending, text, nlp)
        question = self._next_transfer_question(user_id, pending)
        if question is not None:
            # A question reopens the details: only a new confirmation of the complete transfer
            # may move money, never a "yes" meant for the one before.
            pending["stage"] = "collecting"
            question.context["pendingTransfer"] = pending
            return question
        pending["stage"] = "confirming"
        source = account_for_user(user_id=user_id, account_type=pending["from"])
        to_label = self._destination_label(user_id, pending)
        amount = Decimal(pending["amount"])
        return AgentReply(
            f"Please confirm: {'pay' if pending.get('kind') == 'bill' else 'transfer'} "
            f"{format_money(amount, source.currency)} from your {source.name} to {to_label}?",
            quick_replies=["Yes", "No"],
            data={"transfer": {k: v for k, v in pending.items() if k != "id"}},
            context={"pendingTransfer": pending},
        )

    def _fill_transfer_slots(self, pending: dict, text: str, nlp) -> None:
        money = entities_of(nlp, "money")
        if money:
            pending["amount"] = money[0].value.get("amount")
            pending["currency"] = money[0].value.get("currency")  # None: the account's own
        elif "amount" not in pending and (plain := PLAIN_AMOUNT.match(text)):
            pending["amount"] = plain.group(1).replace(",", ".")
        for entity in entities_of(nlp, "account"):
            # "from savings" / "to savings" say which side; a bare "savings" answers whatever
            # we just asked for.
            role = _role_of(text, entity.start) or pending.get("awaiting")
            if role not in ("from", "to"):
                role = "to" if "from" in pending else "from"
            pending[role] = entity.value.get("accountType")
            if role == "to":
                pending.pop("payee", None)  # one destination: the account named last
        payees = entities_of(nlp, "organization") + entities_of(nlp, "person")
        if payees and "to" not in pending:
            pending["payee"] = payees[0].value.get("name") or payees[0].text

    def _next_transfer_question(self, user_id: str, pending: dict) -> AgentReply | None:
        owned = sorted({a.account_type for a in accounts_for_user(user_id=user_id)})
        if pending.get("amount"):
            try:
                pending["amount"] = str(parse_amount(pending["amount"]))
            except ServiceError as exc:
                pending.pop("amount")
                pending["awaiting"] = "amount"
                return AgentReply(f"{exc.message}. How much would you like to send?")
        if not pending.get("amount"):
            pending["awaiting"] = "amount"
            return AgentReply("How much would you like to send?")
        if pending.get("from") not in owned:
            pending.pop("from", None)
            pending["awaiting"] = "from"
            return AgentReply(
                "Which account should the money come from?",
                quick_replies=[ACCOUNT_LABELS[t] for t in owned],
            )
        source = account_for_user(user_id=user_id, account_type=pending["from"])
        if pending.get("currency") not in (None, source.currency):
            # No conversion here: confirming it in the account's currency would silently
            # change what the user asked for.
            asked_in = pending.pop("currency")
            pending.pop("amount")
            pending["awaiting"] = "amount"
            return AgentReply(
                f"Transfers are made in your account's currency, and your {source.name} is in "
                f"{source.currency}, not {asked_in}. How much in {source.currency} would you "
                "like to send?"
            )
        pending["awaiting"] = "to"
        if not pending.get("to") and not pending.get("payee"):
            return AgentReply(
                "Who or which account should receive it?",
                quick_replies=[ACCOUNT_LABELS[t] for t in owned if t != pending["from"]],
            )
        if pending.get("to") and pending["to"] not in owned:
            pending.pop("to")
            return AgentReply("You don't have that account. Which account should receive it?")
        if pending.get("to") == pending["from"]:
            pending.pop("to")
            return AgentReply("The money needs to go to a different account. Which one?")
        pending.pop("awaiting", None)
        return None

    def _destination_label(self, user_id, pending) -> str:
        if pending.get("to"):
            return f"your {account_for_user(user_id=user_id, account_type=pending['to']).name}"
        return pending["payee"]

    def _execute_transfer(self, user_id: str, pending: dict) -> AgentReply:
        source = account_for_user(user_id=user_id, account_type=pending["from"])
        target = (
            account_for_user(user_id=user_id, account_type=pending["to"])
            if pending.get("to")
            else None
        )
        try:
            # A savepoint: a refused transfer must not abort the turn's transaction.
            with transaction.atomic():
                transfer = transfer_create(
                    actor=f"bot:{user_id}",
                    user_id=user_id,
                    from_account_id=source.pk,
                    to_account_id=target.pk if target else None,
                    payee=pending.get("payee", ""),
                    amount=pending["amount"],
                    reference="Bill payment" if pending.get("kind") == "bill" else "Chat transfer",
                    # The pending flow's id: a repeated confirmation cannot move money twice.
                    idempotency_key=f"chat-transfer:{pending['id']}",
                )
        except ServiceError as exc:
            if exc.code == "insufficient_funds":
                return AgentReply(
                    "I can't make that transfer: it would overdraw your "
                    f"{source.name} (available {format_money(source.available, source.currency)}).",
                    quick_replies=["Transfer money", "Check my balance"],
                    data={"refused": exc.code, "details": exc.details},
                    context={"pendingTransfer": None},
                )
            return AgentReply(
                f"I couldn't make that transfer: {exc.message}.", context={"pendingTransfer": None}
            )
        source.refresh_from_db()
        return AgentReply(
            f"Done: {format_money(transfer.amount, transfer.currency)} sent to "
            f"{self._destination_label(user_id, pending)}. Your {source.name} balance is now "
            f"{format_money(source.balance, source.currency)}.",
            quick_replies=["Check my balance", "Recent transactions"],
            data={
                "transferId": str(transfer.pk),
                "amount": str(transfer.amount),
                "currency": transfer.currency,
            },
            context={"pendingTransfer": None},
        )
