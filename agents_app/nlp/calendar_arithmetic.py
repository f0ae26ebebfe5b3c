"""Calendar arithmetic for the date grammar (dates.py): the nearest occurrence of a day, month
or weekday before or after a given day, whole weeks/months/quarters/years, and counts written
as words. python-dateutil does the month and weekday arithmetic."""

from datetime import date, timedelta

from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta
from text_to_num import text2num

# dateutil's weekday rules, Monday first, as date.weekday() numbers them.
WEEKDAY_RULES = (MO, TU, WE, TH, FR, SA, SU)


def safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def day_month(anchor: date, month: int, day: int, *, past: bool) -> date | None:
    """The nearest `day month` on or after `anchor` (on or before it when `past`)."""
    step = -1 if past else 1
    for offset in range(9):  # 29 February recurs within 8 years
        found = safe_date(anchor.year + step * offset, month, day)
        if found and (found <= anchor if past else found >= anchor):
            return found
    return None


def day_only(anchor: date, day: int, *, past: bool) -> date | None:
    """The nearest day of the month numbered `day`, on or after `anchor` (before when `past`)."""
    first = anchor.replace(day=1)
    for offset in range(13):
        month = first + relativedelta(months=-offset if past else offset)
        found = safe_date(month.year, month.month, day)
        if found and (found <= anchor if past else found >= anchor):
            return found
    return None


def next_weekday(anchor: date, weekday: int, *, past: bool) -> date:
    """The first such weekday after `anchor` (before it when `past`), never `anchor` itself."""
    rule = WEEKDAY_RULES[weekday]
    if past:
        return anchor + relativedelta(days=-1, weekday=rule(-1))
    return anchor + relativedelta(days=1, weekday=rule(+1))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def unit_range(today: date, unit: str, offset: int) -> tuple[date, date]:
    """The calendar week/month/quarter/year containing today, moved by `offset` units."""
    if unit == "week":
        start = week_start(today) + timedelta(weeks=offset)
        return start, start + timedelta(days=6)
    if unit == "year":
        return date(today.year + offset, 1, 1), date(today.year + offset, 12, 31)
    months = 3 if unit == "quarter" else 1
    first_month = (today.month - 1) // months * months + 1
    start = date(today.year, first_month, 1) + relativedelta(months=months * offset)
    return start, start + relativedelta(months=months, days=-1)


def month_range(anchor: date, month: int, year: int | None, *, past: bool) -> tuple[date, date]:
    if year is None:
        year = anchor.year
        if past and month > anchor.month:
            year -= 1
        elif not past and month < anchor.month:
            year += 1
    start = date(year, month, 1)
    return start, start + relativedelta(months=1, days=-1)


def count_of(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    if word in ("a", "an"):
        return 1
    if word.startswith("couple"):
        return 2
    if word == "few":
        return 3
    try:
        return text2num(word, "en")
    except ValueError:
        return None


def shift(unit: str, count: int) -> relativedelta:
    return relativedelta(**{f"{unit.lower()}s": count})
