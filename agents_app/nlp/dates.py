"""Dates and periods in English chat text, resolved against a given day.

"yesterday", "on 3 March", "last Thursday" become dates; "last month", "this week", "since May",
"in January", "last 30 days", "between 1 and 15 March" become periods. dateparser was measured
and left out: it finds single dates only (no periods), reads "9700 pounds" as the year 9700 and
costs 0.3-7 ms a message, against a budget of 2 ms for the whole pipeline. The grammar below
only locates and classifies; the calendar arithmetic is in calendar_arithmetic.py, on
python-dateutil.

A day or month named without a year ("on the 5th", "in August") resolves to its next occurrence,
today included, as scheduling requests mean and NLU++ annotates, unless the message speaks of
the past ("did", "spent", "ago"...), where it resolves to the most recent one. "since X" always
looks back.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from agents_app.nlp.calendar_arithmetic import (
    count_of,
    day_month,
    day_only,
    month_range,
    next_weekday,
    safe_date,
    shift,
    unit_range,
    week_start,
)
from agents_app.nlp.result import Entity, Spans

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + ")"
WEEKDAY = "(?:" + "|".join(WEEKDAYS) + ")"
COUNT = (
    r"(?:\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|sixty|ninety|couple(?:\s+of)?|few)"
)
DAY = r"(?P<d>\d{1,2})(?:st|nd|rd|th)?"
YEAR = r"(?P<y>(?:19|20)\d{2})"
# Followers that make a number a time, a duration or a count rather than a day of the month.
NOT_A_DAY = (
    r"(?!\s*(?:[:.]\d|%|(?:am|pm|a\.m|p\.m|o'clock|hours?|hrs?|minutes?|mins?|days?|weeks?|"
    r"months?|years?|times?)\b))"
)

# Cheap gate: most chat messages name no date at all and skip every rule below.
_GATE = re.compile(
    rf"\d|day|tonight|tomorrow|morning|evening|night|week|month|year|quarter|ago|{MONTH}",
    re.IGNORECASE,
)
# Past tense, or asking for records (transactions, statements, spending) that only the past has.
_PAST_CUE = re.compile(
    r"\b(?:did|didn't|was|wasn't|were|weren't|had|spent|paid|received|got|sent|made|bought|"
    r"charged|transferred|withdrew|happened|lost|opened|submitted|ordered|earned|noticed|"
    r"tried|went|took|ago|yesterday|last|transactions?|statements?|history|spending|"
    r"purchases|expenses|income)\b",
    re.IGNORECASE,
)
# How far back the context checks below look ("since", "between 1 and"...).
LOOK_BACK_CHARS = 40
_SINCE = re.compile(r"\bsince\s+$", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"\s*(?:and|to|until|till|through|thru|-|\u2013)\s*", re.IGNORECASE)
_RANGE_OPEN = re.compile(r"\b(?:between|from)\s+$", re.IGNORECASE)
_RANGE_BARE_START = re.compile(
    r"(?:\b(?P<kw>between|from)\s+(?:the\s+)?)?\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s*"
    r"(?P<join>and|to|until|till|through|thru|-|\u2013)\s*$",
    re.IGNORECASE,
)
_ORDINAL_PREFIX = re.compile(
    r"\b(?:on|by|from|to|until|till|before|after|since|between|and|of)\s+$", re.IGNORECASE
)
_MONTH_PREFIX = re.compile(
    r"\b(?:in|since|during|for|until|till|from|on|of|through|by|before|after|and|to|between|"
    r"whole|entire|all|early|late|mid)\s+(?:the\s+(?:month\s+of\s+)?)?$",
    re.IGNORECASE,
)
_MODAL_SUBJECT = re.compile(r"\b(?:i|you|we|they|he|she|it|which|that|who)\s+$", re.IGNORECASE)


@dataclass
class _Atom:
    """One date-like mention before its year or month is settled by its neighbours."""

    start: int
    end: int
    kind: str  # "day" | "month" | "year" | "period"
    day: int | None = None
    month: int | None = None
    year: int | None = None
    fixed: date | None = None  # relative days ("yesterday") are settled at once
    weekday: int | None = None  # a bare weekday, settled by direction
    period: tuple[date, date] | None = None


# --- rules: each turns one match into an atom, or refuses it ---------------------------------

Builder = Callable[[re.Match[str], str, date], _Atom | None]
_RULES: list[tuple[re.Pattern[str], Builder]] = []


def _rule(pattern: str) -> Callable[[Builder], Builder]:
    def register(builder: Builder) -> Builder:
        _RULES.append((re.compile(pattern, re.IGNORECASE), builder))
        return builder

    return register


@_rule(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")
def _iso(m: re.Match[str], text: str, today: date) -> _Atom | None:
    return _fixed(m, safe_date(int(m["y"]), int(m["m"]), int(m["d"])))


@_rule(r"\b(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})\b(?![.,/]\d)")
def _numeric(m: re.Match[str], text: str, today: date) -> _Atom | None:
    first, second, year = int(m["a"]), int(m["b"]), int(m["y"])
    year += 2000 if year < 100 else 0
    # Day first, as outside the US; a month above 12 can only mean the US order.
    day, month = (second, first) if second > 12 else (first, second)
    return _fixed(m, safe_date(year, month, day))


@_rule(rf"\b(?:the\s+)?{DAY}\s+(?:of\s+)?(?P<rel>this|next|last|previous)\s+month\b")
def _day_of_relative_month(m: re.Match[str], text: str, today: date) -> _Atom | None:
    offset = {"this": 0, "next": 1}.get(m["rel"].lower(), -1)
    month = today.replace(day=1) + relativedelta(months=offset)
    return _fixed(m, safe_date(month.year, month.month, int(m["d"])))


@_rule(rf"\b(?:the\s+)?{DAY}(?:\s+of)?\s+(?P<m>{MONTH})\b\.?(?:,?\s+{YEAR}\b)?")
def _day_then_month(m: re.Match[str], text: str, today: date) -> _Atom | None:
    return _calendar_atom(m, int(m["d"]), m["m"], m["y"])


@_rule(rf"\b(?P<m>{MONTH})\.?\s+(?:the\s+)?{DAY}\b{NOT_A_DAY}(?:,?\s+{YEAR}\b)?")
def _month_then_day(m: re.Match[str], text: str, today: date) -> _Atom | None:
    if m["m"].lower() == "may" and _just_before(_MODAL_SUBJECT, text, m.start()):
        return None  # "you may 2x..." is the verb
    return _calendar_atom(m, int(m["d"]), m["m"], m["y"])


def _fixed(m: re.Match[str], day: date | None) -> _Atom | None:
    return _Atom(m.start(), m.end(), "day", fixed=day) if day else None


def _calendar_atom(m: re.Match[str], day: int, month: str, year: str | None) -> _Atom | None:
    month_number = MONTHS[month.lower()]
    if not 1 <= day <= 31 or (year and not safe_date(int(year), month_number, day)):
        return None
    return _Atom(
        m.start(), m.end(), "day", day=day, month=month_number, year=int(year) if year else None
    )


@_rule(r"\b(?:the\s+)?day\s+(?P<rel>after\s+tomorrow|before\s+yesterday)\b")
def _day_after_tomorrow(m: re.Match[str], text: str, today: date) -> _Atom | None:
    offset = 2 if m["rel"].lower().startswith("after") else -2
    return _Atom(m.start(), m.end(), "day", fixed=today + timedelta(days=offset))


@_rule(
    rf"\b(?:(?P<mod>last|next|this|coming|previous|past)\s+(?:(?P<wk>week)\s+(?:on\s+)?)?)?"
    rf"(?P<wd>{WEEKDAY})\b(?:\s+(?P<mod2>last|next|this)\s+week\b)?(?P<plus>\s+in\s+a\s+week\b)?"
)
def _weekday(m: re.Match[str], text: str, today: date) -> _Atom | None:
    weekday = WEEKDAYS.index(m["wd"].lower())
    week_mod = (m["mod"] if m["wk"] else m["mod2"] or "").lower()
    mod = (m["mod"] or "").lower()
    if week_mod:
        offset = {"this": 0, "next": 1}.get(week_mod, -1)
        found = week_start(today) + timedelta(weeks=offset, days=weekday)
    elif mod in ("last", "previous", "past"):
        found = next_weekday(today, weekday, past=True)
    elif mod == "next":
        # "next Sunday" is the Sunday of next week, not the coming one.
        found = week_start(today) + timedelta(weeks=1, days=weekday)
    elif mod == "this":
        found = week_start(today) + timedelta(days=weekday)
    elif mod == "coming" or m["plus"]:
        found = next_weekday(today, weekday, past=False)
    else:
        return _Atom(m.start(), m.end(), "day", weekday=weekday)
    if m["plus"]:
        found += timedelta(weeks=1)
    return _Atom(m.start(), m.end(), "day", fixed=found)


@_rule(rf"\b(?P<n>{COUNT})\s+(?P<unit>day|week|month|year)s?\s+ago\b")
def _ago(m: re.Match[str], text: str, today: date) -> _Atom | None:
    count = count_of(m["n"])
    if count is None:
        return None
    return _Atom(m.start(), m.end(), "day", fixed=today - shift(m["unit"], count))


@_rule(rf"\bin\s+(?P<n>{COUNT})\s+(?P<unit>day|week|month|year)s?\b")
def _in_count(m: re.Match[str], text: str, today: date) -> _Atom | None:
    count = count_of(m["n"])
    if count is None:
        return None
    return _Atom(m.start(), m.end(), "day", fixed=today + shift(m["unit"], count))


@_rule(rf"\b(?P<m>{MONTH})\b\.?(?:,?\s+{YEAR}\b|\s+(?P<rel>this|last|next)\s+year\b)?")
def _whole_month(m: re.Match[str], text: str, today: date) -> _Atom | None:
    name = m["m"].lower()
    # "may" is mostly the verb and "mar", "jan"... are words or names: they need a preposition
    # or a year. Full month names ("January spending") stand on their own.
    bare_ok = len(name) > 4 or name in ("june", "july")
    if not (bare_ok or m["y"] or m["rel"] or _just_before(_MONTH_PREFIX, text, m.start())):
        return None
    year = int(m["y"]) if m["y"] else None
    if m["rel"]:
        year = today.year + {"this": 0, "next": 1}.get(m["rel"].lower(), -1)
    return _Atom(m.start(), m.end(), "month", month=MONTHS[name], year=year)


@_rule(
    rf"\b(?:the\s+)?(?P<dir>last|past|previous|next|coming|following)\s+(?P<n>{COUNT})\s+"
    r"(?P<unit>day|week|month|year)s?\b"
)
def _rolling(m: re.Match[str], text: str, today: date) -> _Atom | None:
    count = count_of(m["n"])
    if count is None:
        return None
    if m["dir"].lower() in ("next", "coming", "following"):
        span = (today + timedelta(days=1), today + shift(m["unit"], count))
    else:
        span = (today - shift(m["unit"], count), today)
    return _Atom(m.start(), m.end(), "period", period=span)


@_rule(
    r"\b(?P<rel>this|current|the\s+current|last|previous|the\s+previous|past|the\s+past|prior|"
    r"next|coming|the\s+coming|following|the\s+following)\s+(?P<unit>week|month|year|quarter)\b"
)
def _relative_unit(m: re.Match[str], text: str, today: date) -> _Atom | None:
    rel = m["rel"].lower().removeprefix("the").strip()
    offset = {"this": 0, "current": 0, "next": 1, "coming": 1, "following": 1}.get(rel, -1)
    return _Atom(m.start(), m.end(), "period", period=unit_range(today, m["unit"].lower(), offset))


@_rule(r"\b(?P<rel>this|last|next|past|coming)\s+weekend\b")
def _weekend(m: re.Match[str], text: str, today: date) -> _Atom | None:
    offset = {"last": -1, "past": -1, "next": 1}.get(m["rel"].lower(), 0)
    saturday = week_start(today) + timedelta(weeks=offset, days=5)
    return _Atom(m.start(), m.end(), "period", period=(saturday, saturday + timedelta(days=1)))


@_rule(r"\b(?P<unit>year|month)[-\s]to[-\s]date\b|\bso\s+far\s+this\s+(?P<unit2>year|month)\b")
def _to_date(m: re.Match[str], text: str, today: date) -> _Atom | None:
    start, _ = unit_range(today, (m["unit"] or m["unit2"]).lower(), 0)
    return _Atom(m.start(), m.end(), "period", period=(start, today))


@_rule(r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening))\b")
def _today(m: re.Match[str], text: str, today: date) -> _Atom | None:
    return _Atom(m.start(), m.end(), "day", fixed=today)


@_rule(r"\b(?:yesterday|last\s+night)\b")
def _yesterday(m: re.Match[str], text: str, today: date) -> _Atom | None:
    return _Atom(m.start(), m.end(), "day", fixed=today - timedelta(days=1))


@_rule(r"\btomorrow\b")
def _tomorrow(m: re.Match[str], text: str, today: date) -> _Atom | None:
    return _Atom(m.start(), m.end(), "day", fixed=today + timedelta(days=1))


@_rule(rf"\b(?:in|during|for|since|of|throughout|through)\s+(?:the\s+year\s+)?{YEAR}\b(?![.,]\d)")
def _whole_year(m: re.Match[str], text: str, today: date) -> _Atom | None:
    year = int(m["y"])
    return _Atom(m.start("y"), m.end(), "year", year=year)


@_rule(
    r"\b(?:(?P<the>the)\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
    r"(?!\s+(?:times?|cards?|payments?|transactions?|accounts?|attempts?|try|place|floor|"
    r"one|person|instal{1,2}ments?|days?|weeks?|months?|years?|quarters?|of\s+(?:each|every)))"
)
def _ordinal(m: re.Match[str], text: str, today: date) -> _Atom | None:
    day = int(m["d"])
    if not 1 <= day <= 31 or not (m["the"] or _just_before(_ORDINAL_PREFIX, text, m.start())):
        return None
    return _Atom(m.start(), m.end(), "day", day=day)


# --- resolution ------------------------------------------------------------------------------


def _resolve(atom: _Atom, anchor: date, *, past: bool) -> tuple[date, date] | None:
    """The first and last day `atom` means, looking from `anchor` forwards or back."""
    if atom.period is not None:
        return atom.period
    if atom.fixed is not None:
        return atom.fixed, atom.fixed
    if atom.kind == "year" and atom.year:
        return date(atom.year, 1, 1), date(atom.year, 12, 31)
    if atom.kind == "month" and atom.month:
        return month_range(anchor, atom.month, atom.year, past=past)
    found: date | None = None
    if atom.weekday is not None:
        found = next_weekday(anchor, atom.weekday, past=past)
    elif atom.day and atom.month and atom.year:
        found = safe_date(atom.year, atom.month, atom.day)
    elif atom.day and atom.month:
        found = day_month(anchor, atom.month, atom.day, past=past)
    elif atom.day:
        found = day_only(anchor, atom.day, past=past)
    return (found, found) if found else None


def _anchored(atom: _Atom) -> bool:
    """Whether `atom` settles without a neighbour: it names a month, or is already a date."""
    if atom.weekday is not None:
        return False
    return atom.month is not None or atom.kind != "day" or atom.fixed is not None


def _range(first: _Atom, last: _Atom, today: date, *, past: bool) -> tuple[date, date] | None:
    """The span from `first` to `last`; the one that names a month settles the other."""
    if _anchored(last):
        last_span = _resolve(last, today, past=past)
        if last_span is None:
            return None
        first_span = _resolve(first, last_span[1], past=True)
    else:
        first_span = _resolve(first, today, past=past)
        if first_span is None:
            return None
        last_span = _resolve(last, first_span[0], past=False)
    if first_span is None or last_span is None or first_span[0] > last_span[1]:
        return None
    return first_span[0], last_span[1]


def find_dates(text: str, today: date, spans: Spans) -> list[Entity]:
    """Date and period entities in `text`, skipping spans already claimed."""
    if not _GATE.search(text):
        return []
    past = bool(_PAST_CUE.search(text))
    atoms: list[_Atom] = []
    local = Spans()
    for pattern, build in _RULES:
        for match in pattern.finditer(text):
            if not (spans.free(*match.span()) and local.free(*match.span())):
                continue
            try:
                atom = build(match, text, today)
            except (ValueError, OverflowError):
                continue  # "in 999 years" near the end of the calendar: no date at all
            if atom:
                atoms.append(atom)
                local.take(atom.start, atom.end)
    atoms.sort(key=lambda a: a.start)

    entities: list[Entity] = []
    index = 0
    while index < len(atoms):
        atom = atoms[index]
        following = atoms[index + 1] if index + 1 < len(atoms) else None
        try:
            made, used = _entity(text, atom, following, today, past)
        except (ValueError, OverflowError):
            made, used = None, 1  # arithmetic past year 9999 or before year 1
        if made is not None:
            entities.append(made)
        index += used
    return entities


def _entity(
    text: str, atom: _Atom, following: _Atom | None, today: date, past: bool
) -> tuple[Entity | None, int]:
    """The entity that starts with `atom`, and how many atoms it took (a range takes two)."""
    if following and _RANGE_JOIN.fullmatch(text, atom.end, following.start):
        opener = _just_before(_RANGE_OPEN, text, atom.start)
        joiner = text[atom.end : following.start].strip().lower()
        if opener or joiner not in ("and", "to"):
            span = _range(atom, following, today, past=past)
            if span:
                start = opener.start() if opener else atom.start
                return _period(text, start, following.end, span), 2
    return _single(text, atom, today, past), 1


def _single(text: str, atom: _Atom, today: date, past: bool) -> Entity | None:
    """The entity of an atom that is not part of a range of two atoms."""
    bare = _just_before(_RANGE_BARE_START, text, atom.start)
    if bare and atom.month and (bare["kw"] or bare["join"] in ("-", "\u2013")):
        # "between 1 and 15 March": the first day borrows the second one's month.
        last = _resolve(atom, today, past=past)
        first = day_only(last[1], int(bare["d"]), past=True) if last else None
        if last and first:
            return _period(text, bare.start(), atom.end, (first, last[1]))
    since = _just_before(_SINCE, text, atom.start)
    if since:
        span = _resolve(atom, today, past=True)
        if span and span[0] <= today:
            return _period(text, since.start(), atom.end, (span[0], today))
    span = _resolve(atom, today, past=past)
    if span is None:
        return None
    if atom.kind == "day":
        value = {"date": span[0].isoformat()}
        return Entity("date", text[atom.start : atom.end], atom.start, atom.end, value)
    return _period(text, atom.start, atom.end, span)


def _just_before(pattern: re.Pattern[str], text: str, index: int) -> re.Match[str] | None:
    """`pattern` (anchored with `$`) matched on the few words before `index`."""
    return pattern.search(text, max(0, index - LOOK_BACK_CHARS), index)


def _period(text: str, start: int, end: int, span: tuple[date, date]) -> Entity:
    value = {"start": span[0].isoformat(), "end": span[1].isoformat()}
    return Entity("period", text[start:end], start, end, value)
