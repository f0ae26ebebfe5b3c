"""The Banking agent: answers from the user's bank data and runs multi-turn flows (transfers,
card actions) whose progress lives in the session's conversation context."""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from agents_app.models import Account, CardStatus
from agents_app.replies import AgentReply, format_money
from agents_app.selectors import (
    account_for_user,
    accounts_for_user,
    cards_for_user,
    transactions_for_user,
)
from agents_app.services import card_set_status
from agents_app.transfer_flow import TransferConversation, entities_of
from chatbackend.errors import ServiceError

TRANSACTIONS_SHOWN = 5
DEFAULT_HISTORY_DAYS = 30
# Asked for outright, a card action wins over any pending flow: a lost or stolen card cannot
# wait for a transfer to be finished, and "block" must never run as a pending "unblock".
CARD_ACTION_INTENTS = frozenset({"card_block", "card_unblock"})


class BankingAgent(TransferConversation):
    """Balances, transactions, accounts, cards, transfers and bill payments for one user."""

    name = "banking"
    handles = (
        "balance_check",
        "transaction_history",
        "money_transfer",
        "bill_payment",
        "account_info",
        "card_info",
        "card_block",
        "card_unblock",
        "loan_info",
        "banking_help",
    )

    def __init__(self, *, today=None):
        self._today = today or (lambda: timezone.localdate())

    def has_pending_flow(self, context: dict) -> bool:
        return bool(context.get("pendingTransfer") or context.get("pendingCardAction"))

    def overrides_pending_flow(self, intent: str | None) -> bool:
        """Whether `intent` starts afresh even when its words could answer a pending question."""
        return intent in CARD_ACTION_INTENTS

    def handle(self, *, user_id: str, intent: str, text: str, nlp, context: dict) -> AgentReply:
        """Answer `intent`, or continue the flow pending in `context`."""
        interrupting = intent in self._interrupting()
        if context.get("pendingTransfer") and not interrupting:
            return self._continue_transfer(user_id, text, nlp, context["pendingTransfer"], intent)
        if context.get("pendingCardAction") and not interrupting:
            return self._continue_card_action(user_id, nlp, context["pendingCardAction"], intent)
        handler = getattr(self, f"_{intent}", self._banking_help)
        reply = handler(user_id, text, nlp, context)
        if self.has_pending_flow(context):
            self._abandon_pending_flows(reply, context)
        return reply

    @staticmethod
    def _interrupting() -> set[str]:
        # Asking for something else outright abandons a half-finished flow.
        return {
            "balance_check",
            "transaction_history",
            "account_info",
            "card_info",
            "loan_info",
            *CARD_ACTION_INTENTS,
        }

    @staticmethod
    def _abandon_pending_flows(reply: AgentReply, context: dict) -> None:
        # Left pending, an old transfer would go through on the next "yes", whatever that
        # "yes" was meant to answer; so it is dropped, and the user told.
        if context.get("pendingTransfer"):
            reply.text += "\n\nI cancelled the transfer you were setting up; nothing was moved."
        reply.context.setdefault("pendingTransfer", None)
        reply.context.setdefault("pendingCardAction", None)  # unless the reply asks anew

    # --- reads ---------------------------------------------------------------------------
    def _balance_check(self, user_id, text, nlp, context) -> AgentReply:
        wanted = self._account_type(nlp) or None
        accounts = accounts_for_user(user_id=user_id)
        if not accounts:
            return AgentReply("I couldn't find any accounts for you.")
        if wanted:
            chosen = [a for a in accounts if a.account_type == wanted]
            if not chosen:
                return AgentReply(f"You don't have a {wanted} account with us.")
        else:
            chosen = accounts
        lines = [self._balance_line(a) for a in chosen]
        first = chosen[0]
        text_out = (
            f"Your {first.name} balance is {format_money(first.balance, first.currency)}."
            if len(chosen) == 1
            else "Here are your balances:\n" + "\n".join(lines)
        )
        others = dict.fromkeys(a.account_type for a in accounts if a not in chosen)
        return AgentReply(
            text_out,
            quick_replies=[*[f"And my {kind}?" for kind in others][:2], "Recent transactions"],
            data={"accounts": [self._account_json(a) for a in chosen]},
            context={"selectedAccountType": wanted or context.get("selectedAccountType")},
        )

    def _transaction_history(self, user_id, text, nlp, context) -> AgentReply:
        start, end, label = self._period(nlp)
        account_type = self._account_type(nlp) or None
        account = None
        if account_type:
            try:
                account = account_for_user(user_id=user_id, account_type=account_type)
            except ServiceError:
                return AgentReply(f"You don't have a {account_type} account with us.")
        rows = list(
            transactions_for_user(user_id=user_id, account=account, start=start, end=end, limit=50)
        )
        where = f" on your {account.name}" if account else ""
        if not rows:
            return AgentReply(
                f"I found no transactions{where} {label}.",
                data={"start": str(start), "end": str(end), "count": 0},
                context={"selectedAccountType": account_type},
            )
        spent = sum((r.amount for r in rows if r.amount < 0), Decimal("0"))
        lines = [
            f"{r.booked_at:%b %d} {r.description}: {format_money(r.amount, r.currency)}"
            for r in rows[:TRANSACTIONS_SHOWN]
        ]
        more = (
            f"\n…and {len(rows) - TRANSACTIONS_SHOWN} more."
            if len(rows) > TRANSACTIONS_SHOWN
            else ""
        )
        return AgentReply(
            f"Your transactions{where} {label} ({len(rows)} in all, "
            f"{format_money(-spent, rows[0].currency)} spent):\n" + "\n".join(lines) + more,
            data={
                "start": str(start),
                "end": str(end),
                "count": len(rows),
                "transactions": [
                    {
                        "id": str(r.id),
                        "date": r.booked_at.date().isoformat(),
                        "description": r.description,
                        "amount": str(r.amount),
                        "currency": r.currency,
                        "account": r.account.account_type,
                    }
                    for r in rows[:TRANSACTIONS_SHOWN]
                ],
            },
            context={"selectedAccountType": account_type},
        )

    def _account_info(self, user_id, text, nlp, context) -> AgentReply:
        accounts = accounts_for_user(user_id=user_id)
        if not accounts:
            return AgentReply("I couldn't find any accounts for you.")
        lines = [
            f"{a.name} (****{a.number_last4}), {a.account_type}, {a.currency}" for a in accounts
        ]
        return AgentReply(
            "You have these accounts:\n" + "\n".join(lines),
            quick_replies=["Check my balance", "Recent transactions"],
            data={"accounts": [self._account_json(a) for a in accounts]},
        )

    def _card_info(self, user_id, text, nlp, context) -> AgentReply:
        cards = cards_for_user(user_id=user_id)
        if not cards:
            return AgentReply("You have no cards with us.")
        lines = [
            f"{c.card_type.title()} card ending {c.last4}: {c.status}, expires {c.expires}"
            for c in cards
        ]
        return AgentReply(
            "Your cards:\n" + "\n".join(lines),
            quick_replies=["Block a card", "Unblock a card"],
            data={"cards": [self._card_json(c) for c in cards]},
        )

    def _loan_info(self, user_id, text, nlp, context) -> AgentReply:
        return AgentReply(
            "We offer personal loans from $1,000 to $50,000 over 1 to 7 years, and home loans. "
            "Rates depend on your credit profile; an adviser can give you a personal quote.",
            quick_replies=["Talk to a person", "Check my balance"],
            suggested_actions=[{"type": "handoff", "label": "Speak to a loan adviser"}],
        )

    def _banking_help(self, user_id, text, nlp, context) -> AgentReply:
        return AgentReply(
            "I can check balances, show transactions (for example 'last month'), move money "
            "between your accounts or to a payee, pay bills, and block or unblock cards.",
            quick_replies=[
                "Check my balance",
                "Recent transactions",
                "Transfer money",
                "Block a card",
            ],
        )

    # --- cards ---------------------------------------------------------------------------
    def _card_block(self, user_id, text, nlp, context) -> AgentReply:
        return self._card_action(user_id, nlp, "block")

    def _card_unblock(self, user_id, text, nlp, context) -> AgentReply:
        return self._card_action(user_id, nlp, "unblock")

    def _card_action(self, user_id, nlp, action: str) -> AgentReply:
        cards = cards_for_user(user_id=user_id)
        mention = self._card_mention(nlp)
        if mention is None:
            wanted_status = CardStatus.ACTIVE if action == "block" else CardStatus.BLOCKED
            candidates = [c for c in cards if c.status == wanted_status]
        else:
            candidates = self._cards_matching(cards, mention)
            if not candidates:
                # Never fall back to another card: the user named the one they meant.
                owned = ", ".join(f"{c.card_type} ending {c.last4}" for c in cards) or "none"
                return AgentReply(
                    f"You have no {self._describe(mention)}, so I changed nothing. "
                    f"Your cards: {owned}.",
                    quick_replies=[f"{action.title()} my card ending {c.last4}" for c in cards][:3],
                    data={"cards": [self._card_json(c) for c in cards]},
                )
        if len(candidates) == 1:
            return self._apply_card_action(user_id, candidates[0], action)
        if not candidates:
            return AgentReply(
                f"I couldn't find a card to {action}.",
                data={"cards": [self._card_json(c) for c in cards]},
            )
        return AgentReply(
            f"Which card would you like to {action}?",
            quick_replies=[f"Card ending {c.last4}" for c in candidates],
            context={"pendingCardAction": {"action": action}},
        )

    def _continue_card_action(self, user_id, nlp, pending, intent) -> AgentReply:
        if intent == "negation":
            return AgentReply(
                "Okay, I left your cards as they were.", context={"pendingCardAction": None}
            )
        mention = self._card_mention(nlp)
        matched = self._cards_matching(cards_for_user(user_id=user_id), mention) if mention else []
        if len(matched) != 1:
            return AgentReply(
                "Please tell me the last four digits of the card.",
                context={"pendingCardAction": pending},
            )
        reply = self._apply_card_action(user_id, matched[0], pending["action"])
        reply.context["pendingCardAction"] = None
        return reply

    def _apply_card_action(self, user_id, card, action: str) -> AgentReply:
        card = card_set_status(
            actor=f"bot:{user_id}", user_id=user_id, blocked=action == "block", card_id=card.pk
        )
        text = (
            f"Your {card.card_type} card ending {card.last4} is now blocked. "
            "No new payments will go through."
            if action == "block"
            else f"Your {card.card_type} card ending {card.last4} is active again."
        )
        return AgentReply(
            text,
            quick_replies=["Unblock it"] if action == "block" else ["Check my balance"],
            data={"card": self._card_json(card), "action": action},
            context={"pendingCardAction": None},
        )

    @staticmethod
    def _card_mention(nlp) -> dict | None:
        """The first card the user named: {"last4": ...} or {"cardType": ...}; None for "my
        card", which names none."""
        for entity in entities_of(nlp, "card"):
            if entity.value.get("last4"):
                return {"last4": entity.value["last4"]}
            if entity.value.get("cardType"):
                return {"cardType": entity.value["cardType"]}
        return None

    @staticmethod
    def _cards_matching(cards, mention: dict) -> list:
        if "last4" in mention:
            return [c for c in cards if c.last4 == mention["last4"]]
        return [c for c in cards if c.card_type == mention["cardType"]]

    @staticmethod
    def _describe(mention: dict) -> str:
        if "last4" in mention:
            return f"card ending {mention['last4']}"
        return f"{mention['cardType']} card"

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _account_type(nlp) -> str | None:
        found = entities_of(nlp, "account")
        return found[0].value.get("accountType") if found else None

    def _period(self, nlp) -> tuple[date, date, str]:
        for entity in entities_of(nlp, "period"):
            start, end = (
                date.fromisoformat(entity.value["start"]),
                date.fromisoformat(entity.value["end"]),
            )
            return start, end, f"from {start:%b %d} to {end:%b %d, %Y}"
        for entity in entities_of(nlp, "date"):
            day = date.fromisoformat(entity.value["date"])
            return day, day, f"on {day:%b %d, %Y}"
        today = self._today()
        return (
            today - timedelta(days=DEFAULT_HISTORY_DAYS),
            today,
            f"in the last {DEFAULT_HISTORY_DAYS} days",
        )

    @staticmethod
    def _balance_line(account: Account) -> str:
        balance = format_money(account.balance, account.currency)
        line = f"{account.name} (****{account.number_last4}): {balance}"
        if account.credit_limit:
            line += f", available {format_money(account.available, account.currency)}"
        return line

    @staticmethod
    def _account_json(account: Account) -> dict:
        return {
            "id": str(account.pk),
            "type": account.account_type,
            "name": account.name,
            "balance": str(account.balance),
            "available": str(account.available),
            "currency": account.currency,
        }

    @staticmethod
    def _card_json(card) -> dict:
        return {
            "id": str(card.pk),
            "type": card.card_type,
            "last4": card.last4,
            "status": card.status,
        }
