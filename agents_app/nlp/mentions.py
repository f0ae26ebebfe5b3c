"""Accounts, cards, people and companies named in a banking message.

Names are found only where the phrasing says who they are: a capitalised name after "send ... to"
is a person, after "pay" or "at" a company, and so is anything ending in "Ltd", "Inc"... A
statistical tagger (spaCy) would find more and cost a model load and milliseconds a message.
"""

import re

from agents_app.nlp.dates import MONTHS, WEEKDAYS
from agents_app.nlp.result import Entity, Spans

# The entity is the `acc` group, without the words around it that decided it.
_ACCOUNTS = [
    (r"\b(?P<acc>credit(?:\s+card)?\s+(?:account|acct|line))\b", "credit"),
    # "my credit card balance" asks about the account behind the card.
    (r"\b(?P<acc>credit\s+card)\s+(?:balance|statement|bill|debt)\b", "credit"),
    (r"\b(?P<acc>savings?\s+(?:account|acct|acc)|savings)\b", "savings"),
    (r"\b(?P<acc>(?:checking|chequing|cheque|current)\s+(?:account|acct|acc))\b", "checking"),
    # "checking" alone ("from checking", or the answer "checking"), unless it is the verb.
    (
        r"(?<!\bam\s)(?<!'m\s)(?<!\bis\s)(?<!\bwas\s)(?<!\bbe\s)\b(?P<acc>checking)\b"
        r"(?!\s+(?:my|me|the|your|if|whether|on|for|out|up|that|this|it|how|what|why|in)\b)",
        "checking",
    ),
]
_ACCOUNT_PATTERNS = [(re.compile(pattern, re.I), kind) for pattern, kind in _ACCOUNTS]

# "card ending (in) 4242", "credit card **** 4242"
_CARD_LAST4 = [
    re.compile(
        r"(?:\b(?P<type>debit|credit)\s+)?(?:\bcard\s+(?:number\s+)?(?:that\s+)?)?"
        r"\b(?:ending|ends)\s+(?:in\s+|with\s+)?(?P<last4>\d{4})\b",
        re.I,
    ),
    re.compile(
        r"(?:\b(?P<type>debit|credit)\s+)?\bcard\s+(?:no\.?\s+|number\s+)?[*x•.]{2,}\s?"
        r"(?P<last4>\d{4})\b",
        re.I,
    ),
]
_CARD = re.compile(
    r"\b(?:(?P<type>debit|credit|visa|mastercard|contactless|virtual|atm)\s+)?cards?\b", re.I
)
_CARD_TYPES = {"debit": "debit", "atm": "debit", "credit": "credit"}

_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][\w'&.-]*"
_NAME = rf"{_CAPITALISED}(?:\s+(?:&\s+)?{_CAPITALISED}){{0,2}}"
_SUFFIX = r"(?:Ltd|Limited|Inc|LLC|LLP|GmbH|plc|PLC|Corp|Corporation|Co|AG|SA|NV|BV|SAS|SpA|Pty)"
_COMPANY = re.compile(rf"\b(?P<name>(?:{_CAPITALISED}\s+){{1,3}}{_SUFFIX}\b\.?)")
# The verbs are matched in any case ("Pay Netflix"), the names only when capitalised.
_PAYEE = re.compile(
    r"\b(?i:pay|paid|paying|payments?\s+(?:to|for)|subscription\s+(?:to|for)|direct\s+debit\s+"
    r"(?:to|for|with)|standing\s+order\s+(?:to|for|with)|refund\s+from|charged?\s+by|"
    rf"charge\s+from|at|with)\s+(?P<name>{_NAME})",
)
_RECIPIENT = re.compile(
    r"\b(?i:send|sent|sending|transfer|transferred|transferring|wire|wired|give|gave|owe|lend|"
    r"receive|received|got)\b(?:[^.!?\n]|\.\d){0,60}?\b(?i:to|from)\s+"
    rf"(?P<name>{_NAME})",
)
# Capitalised words that are never a payee: sentence openers, account and card words, days
# and months.
_NOT_NAMES = {
    *("i", "i'm", "i'd", "i'll", "i've", "my", "me", "the", "a", "an", "it", "this", "that"),
    *("please", "thanks", "thank", "hi", "hello", "yes", "no", "ok", "okay"),
    *("savings", "saving", "checking", "current", "credit", "debit", "account", "accounts"),
    *("card", "cards", "visa", "mastercard", "atm", "pin", "usd", "eur", "gbp"),
    *("euro", "euros", "dollars", "pounds", "today", "tomorrow", "yesterday"),
    *("christmas", "easter"),
    *WEEKDAYS,
    # Full month names only: "Jan" and "Mar" can be people.
    *(name for name in MONTHS if len(name) > 4 or name in ("may", "june", "july")),
}


def find_accounts(text: str, spans: Spans) -> list[Entity]:
    found: list[Entity] = []
    for pattern, account_type in _ACCOUNT_PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span("acc")
            if spans.free(start, end):
                spans.take(start, end)
                value = {"accountType": account_type}
                found.append(Entity("account", m["acc"], start, end, value))
    return found


def find_cards(text: str, spans: Spans) -> list[Entity]:
    found: list[Entity] = []
    for pattern in _CARD_LAST4:
        for m in pattern.finditer(text):
            if not spans.free(*m.span()):
                continue
            spans.take(*m.span())
            value = {"last4": m["last4"]}
            if card_type := _CARD_TYPES.get((m["type"] or "").lower()):
                value["cardType"] = card_type
            found.append(Entity("card", m[0], m.start(), m.end(), value))
    for m in _CARD.finditer(text):
        if spans.free(*m.span()):
            spans.take(*m.span())
            card_type = _CARD_TYPES.get((m["type"] or "").lower())
            found.append(Entity("card", m[0], m.start(), m.end(), {"cardType": card_type}))
    return found


def find_parties(text: str, spans: Spans) -> list[Entity]:
    """People and organizations a payment goes to or comes from."""
    found: list[Entity] = []
    for pattern, type_ in ((_COMPANY, "organization"), (_PAYEE, "organization")):
        found += _names(text, pattern, type_, spans)
    found += _names(text, _RECIPIENT, "person", spans)
    return found


def _names(text: str, pattern: re.Pattern[str], type_: str, spans: Spans) -> list[Entity]:
    found = []
    for m in pattern.finditer(text):
        words = list(re.finditer(r"\S+", m["name"]))
        # Trim words that cannot be part of a name: "to John Today" -> "John".
        while words and _plain(words[-1][0]) in _NOT_NAMES:
            words.pop()
        while words and _plain(words[0][0]) in _NOT_NAMES:
            words.pop(0)
        if not words:
            continue
        start = m.start("name") + words[0].start()
        end = m.start("name") + words[-1].end()
        name = text[start:end].rstrip(".")
        end = start + len(name)
        if spans.free(start, end):
            spans.take(start, end)
            found.append(Entity(type_, name, start, end, {"name": name}))
    return found


def _plain(word: str) -> str:
    return word.lower().rstrip(".")
