"""Amounts of money in chat text: "$50", "€1,200.50", "100 eur", "700£", "fifty pounds", and a
bare number right after a money verb ("send 200 to savings", currency unknown).

price-parser and quantulum3 were measured on NLU++ and left out as finders: price-parser takes
one price per string with no span and no currency words (31/62 right), quantulum3 costs 1.3 ms
a message (48/62). The regexes below only locate amounts; price-parser's number parser turns
"1.200,50" and "1,200.50" into the same Decimal, and text2num reads number words.
"""

import re
from decimal import Decimal

from price_parser.parser import parse_number
from text_to_num import text2num

from agents_app.nlp.result import Entity, Spans

CURRENCIES = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "buck": "USD",
    "bucks": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "sterling": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "yen": "JPY",
    "₹": "INR",
    "inr": "INR",
    "rupee": "INR",
    "rupees": "INR",
    "chf": "CHF",
    "franc": "CHF",
    "francs": "CHF",
    "c$": "CAD",
    "cad": "CAD",
    "a$": "AUD",
    "aud": "AUD",
    **{code: code.upper() for code in ("sek", "nok", "dkk", "pln", "mxn", "brl", "nzd", "sgd")},
    **{code: code.upper() for code in ("hkd", "zar", "cny")},
}
CENT = Decimal("0.01")
MULTIPLIERS = {"k": 1000, "thousand": 1000, "m": 1_000_000, "million": 1_000_000}

_SYMBOL = r"(?:us\$|c\$|a\$|\$|€|£|¥|₹)"
_CODE = r"(?:usd|eur|gbp|jpy|inr|chf|cad|aud|sek|nok|dkk|pln|mxn|brl|nzd|sgd|hkd|zar|cny)"
_WORD = r"(?:dollars?|bucks?|euros?|pounds?|quid|sterling|yen|rupees?|francs?)"
# 1,200.50 | 1.200,50 | 1200.50 | 12,50; never the tail of a longer number or a word.
# Up to 12 integer digits: a longer number is an account or reference, not an amount.
_AMOUNT = (
    r"(?<![\w.,])(?P<num>\d{1,3}(?:[,.\u00a0\u202f']\d{3}){1,3}(?:[.,]\d{1,2})?"
    r"|\d{1,12}(?:[.,]\d{1,2})?)"
)
_MULT = r"(?:\s?(?P<mult>k|thousand|million|m)\b)?"

_PREFIXED = re.compile(rf"(?P<cur>{_SYMBOL}|\b{_CODE}\b)\s?{_AMOUNT}(?![\d.,]\d){_MULT}", re.I)
_SUFFIXED = re.compile(
    rf"{_AMOUNT}(?![\d.,]\d)(?:\s?(?P<mult>k|thousand|million)\b)?\s?"
    rf"(?P<cur>{_SYMBOL}|\b(?:{_CODE}|{_WORD})\b)",
    re.I,
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundred|thousand|million)"
)
# Cheap gates: most messages have no digits and no currency words.
_DIGIT = re.compile(r"\d")
_WORD_GATE = re.compile(_WORD, re.I)
_SPELLED = re.compile(
    rf"\b(?P<words>(?:an?\s+|{_NUMBER_WORD}[\s-]+(?:and\s+)?)*{_NUMBER_WORD})\s+"
    rf"(?P<cur>{_WORD})\b",
    re.I,
)
# A bare number counts as money only right after a money verb, with at most a few filler words
# between ("spend more than 400"), and only when nothing after it makes it a count, a time or
# a day ("pay 3 bills", "at 9:55", "in 8 hours").
_BARE = re.compile(
    r"\b(?:send|sent|sending|transfer|transferred|transferring|move|moved|pay|paid|paying|"
    r"spend|spent|spending|withdraw|withdrew|withdrawn|deposit|deposited|refund|refunded|"
    r"charged?|cost|costs|owe|lend|borrow|amount\s+of|payment\s+of|sum\s+of|limit\s+to|"
    r"top\s+up|topped\s+up)"
    r"(?:\s+(?:more|less|than|over|under|about|around|roughly|approximately|exactly|another|"
    r"the|a|an|him|her|them|me|us|back|just|only|like|at\s+least|up\s+to)){0,3}\s+"
    rf"{_AMOUNT}(?![\d.,:]\d)"
    r"(?=\s*(?:$|[,.!?;)]|(?:to|for|from|into|onto|on|in|at|by|via|with|and|or|please|now|"
    r"today|tonight|tomorrow|back|instead|then|right|each|per|every|of|over|more|less|as|so|"
    r"but|if|when|before|after|until|till|monthly|weekly)\b))",
    re.I,
)
# "a 800 transfer": the noun after the number says it is money.
_BEFORE_NOUN = re.compile(
    rf"{_AMOUNT}(?![\d.,:]\d)(?=\s+(?:transfer|payment|deposit|withdrawal|refund|charge|"
    r"fee|bill)s?\b)",
    re.I,
)


# "1.999" is 1999 where "." groups thousands and 1.999 where it is the decimal point, which no
# currency has three places of; "0.001" / "0,001" is no amount in either reading. Guessing moves
# the wrong sum (a confirmation would show $1,999.00 for "send 1.999"), so such numbers are not
# taken as money at all and the banking agent asks for the amount. "1,200" stays 1,200.
_AMBIGUOUS = re.compile(r"\d{1,3}\.\d{3}|0[,.\u00a0\u202f']\d{3}.*")


def _decimal(number: str, multiplier: str | None) -> str | None:
    if _AMBIGUOUS.fullmatch(number):
        return None
    amount = parse_number(number)
    if amount is None:
        return None
    if multiplier:
        amount *= MULTIPLIERS[multiplier.lower()]
    return _cents(amount)


def _spelled(words: str) -> str | None:
    words = re.sub(r"^an?\s+", "one ", words.lower().replace("-", " "))
    try:
        return _cents(Decimal(text2num(words, "en")))
    except ValueError:
        return None


def _cents(amount: Decimal) -> str:
    # Always two decimals, as the banking services store and compare amounts: "$50" -> "50.00".
    return format(amount.quantize(CENT), "f")


def find_money(text: str, spans: Spans) -> list[Entity]:
    """Money entities in `text`, skipping spans already claimed."""
    found: list[Entity] = []
    has_digits = _DIGIT.search(text) is not None

    def add(match: re.Match[str], amount: str | None, currency: str | None) -> None:
        start, end = match.start(), match.end()
        if amount is None or not spans.free(start, end):
            return
        spans.take(start, end)
        value = {"amount": amount, "currency": currency}
        found.append(Entity("money", text[start:end], start, end, value))

    for pattern in (_PREFIXED, _SUFFIXED) if has_digits else ():
        for m in pattern.finditer(text):
            add(m, _decimal(m["num"], m["mult"]), CURRENCIES[m["cur"].lower()])
    if _WORD_GATE.search(text):
        for m in _SPELLED.finditer(text):
            add(m, _spelled(m["words"]), CURRENCIES[m["cur"].lower()])
    for pattern in (_BARE, _BEFORE_NOUN) if has_digits else ():
        for m in pattern.finditer(text):
            # The entity is the number alone, not the verb in front of it.
            start, end = m.span("num")
            amount = _decimal(m["num"], None)
            if amount is not None and spans.free(start, end):
                spans.take(start, end)
                value = {"amount": amount, "currency": None}
                found.append(Entity("money", m["num"], start, end, value))
    return sorted(found, key=lambda entity: entity.start)
