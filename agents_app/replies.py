"""What an agent answers, and how money and dates read in a reply."""

from dataclasses import dataclass, field
from decimal import Decimal

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def format_money(amount: Decimal, currency: str) -> str:
    symbol = CURRENCY_SYMBOLS.get(currency)
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


@dataclass
class AgentReply:
    """One agent's answer: text for the user, buttons, what it found, and context to keep."""

    text: str
    quick_replies: list[str] = field(default_factory=list)
    suggested_actions: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    # Merged into session.conversation_context; a key set to None is removed.
    context: dict = field(default_factory=dict)
