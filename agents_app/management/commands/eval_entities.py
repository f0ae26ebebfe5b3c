"""Measure the NLP agent's money and date entities on NLU++ files (the banking domain's format).

NLU++ annotates `amount_of_money`, `date`, `date_period`, `date_from` and `date_to` slots with a
character span and a value; our agent finds `money`, `date` and `period` entities. They are
compared as slots: ours are mapped onto NLU++'s names (`to_slots`), and a found slot counts when
one of the message's gold slots has the same name, an overlapping span and the same value.
"""

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents_app.nlp import Entity, NlpAgent

SLOTS = ("amount_of_money", "date", "date_period", "date_from", "date_to")
DEFAULT_TODAY = datetime.date(2022, 3, 15)  # NLU++ resolved relative dates against this day

# "from the 16th to the 22nd of Apr", "between May 22 and May 29th", "Jan 3rd - Jan 9th".
_RANGE = re.compile(r"\s(?:to|and|until|till|through|thru|-|\u2013)\s", re.IGNORECASE)
_SINCE = re.compile(r"^since\b", re.IGNORECASE)
# NLU++ annotates "by Wednesday" and "before the 14 Jan" as a date, "until May" as a date_to.
_UNTIL_BEFORE = re.compile(r"\b(?:until|till|up\s+to|no\s+later\s+than)\s+(?:the\s+)?$", re.I)
_FROM_BEFORE = re.compile(r"\b(?:from|starting|starting\s+from|as\s+of)\s+(?:the\s+)?$", re.I)


@dataclass(frozen=True)
class Slot:
    name: str
    start: int
    end: int
    value: object  # a float for money, a date, a (date, date) pair, or None when unresolved

    def overlaps(self, other: "Slot") -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class SlotScore:
    name: str
    gold: int
    found: int
    correct: int  # same name, overlapping span, same value
    located: int  # same name and overlapping span, whatever the value

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        return _f1(self.correct, self.found, self.gold)

    @property
    def span_f1(self) -> float:
        return _f1(self.located, self.found, self.gold)


def _f1(hits: int, found: int, gold: int) -> float:
    return 2 * hits / (found + gold) if hits else 0.0


def _day(value: object) -> datetime.date | None:
    if not isinstance(value, dict):
        return None  # "ambiguous"
    try:
        return datetime.date(value["year"], value["month"], value["day"])
    except (KeyError, TypeError, ValueError):
        return None


def gold_slots(example: dict) -> list[Slot]:
    """The slots of one NLU++ example that this evaluation scores."""
    found = []
    for name, slot in (example.get("slots") or {}).items():
        if name not in SLOTS:
            continue
        start, end = slot["span"]
        value: object
        if name == "amount_of_money":
            raw = slot.get("value") or {}
            value = float(raw["amount"]) if isinstance(raw, dict) and "amount" in raw else None
        elif name == "date_period":
            values = slot.get("values") or {}
            first, last = _day(values.get("from")), _day(values.get("to"))
            # Only absolute periods have dates; "monthly" or "lately" cannot be matched on value.
            value = (first, last) if first and last else None
        else:
            value = _day(slot.get("value"))
        found.append(Slot(name, start, end, value))
    return found


def to_slots(text: str, entities: Iterable[Entity]) -> list[Slot]:
    """Our money, date and period entities as NLU++ slots.

    A period that starts with "since" is a `date_from`; a range of two days ("from the 3rd to
    the 6th") is a `date_from` and a `date_to`; a date or period right after "until", "up to" or
    "no later than" is a `date_to`, and one right after "from" or "starting" a `date_from`.
    """
    slots = []
    for entity in entities:
        start, end = entity.start, entity.end
        if entity.type == "money":
            slots.append(Slot("amount_of_money", start, end, float(entity.value["amount"])))
            continue
        if entity.type == "date":
            first = last = datetime.date.fromisoformat(entity.value["date"])
        elif entity.type == "period":
            first = datetime.date.fromisoformat(entity.value["start"])
            last = datetime.date.fromisoformat(entity.value["end"])
        else:
            continue
        before = text[max(0, start - 30) : start]
        if entity.type == "period" and _SINCE.match(entity.text):
            slots.append(Slot("date_from", start, end, first))
        elif entity.type == "period" and _RANGE.search(entity.text):
            split = _RANGE.search(entity.text)
            assert split is not None
            slots.append(Slot("date_from", start, start + split.start(), first))
            slots.append(Slot("date_to", start + split.end(), end, last))
        elif _UNTIL_BEFORE.search(before):
            slots.append(Slot("date_to", start, end, last))
        elif _FROM_BEFORE.search(before):
            slots.append(Slot("date_from", start, end, first))
        elif entity.type == "date":
            slots.append(Slot("date", start, end, first))
        else:
            slots.append(Slot("date_period", start, end, (first, last)))
    return slots


def match(gold: Sequence[Slot], found: Sequence[Slot], *, on_value: bool) -> int:
    """How many found slots pair off with a gold slot (each gold slot used once)."""
    unused = list(gold)
    hits = 0
    for slot in found:
        for candidate in unused:
            same = candidate.name == slot.name and candidate.overlaps(slot)
            if same and (not on_value or candidate.value == slot.value):
                unused.remove(candidate)
                hits += 1
                break
    return hits


def evaluate(examples: Iterable[dict], agent: NlpAgent) -> list[SlotScore]:
    """Per-slot counts over all examples, in the order of SLOTS."""
    totals = {name: [0, 0, 0, 0] for name in SLOTS}
    for example in examples:
        text = example["text"]
        gold = gold_slots(example)
        found = to_slots(text, agent.analyze(text).entities)
        for name in SLOTS:
            gold_n = [s for s in gold if s.name == name]
            found_n = [s for s in found if s.name == name]
            counts = totals[name]
            counts[0] += len(gold_n)
            counts[1] += len(found_n)
            counts[2] += match(gold_n, found_n, on_value=True)
            counts[3] += match(gold_n, found_n, on_value=False)
    return [SlotScore(name, *totals[name]) for name in SLOTS]


def read_examples(paths: Iterable[Path]) -> list[dict]:
    examples = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        if not isinstance(data, list):
            raise CommandError(f"{path} is not an NLU++ file (a list of examples with text)")
        for index, example in enumerate(data):
            problem = _problem(example)
            if problem:
                raise CommandError(f"{path}, example {index}: {problem}")
        examples.extend(data)
    return examples


def _problem(example: object) -> str | None:
    """What makes `example` unreadable as NLU++ (for the slots scored here), or None."""
    if not isinstance(example, dict) or not isinstance(example.get("text"), str):
        return "not an example with text (an NLU++ file is a list of examples with text)"
    slots = example.get("slots") or {}
    if not isinstance(slots, dict):
        return "slots is not an object"
    for name in SLOTS:
        slot = slots.get(name)
        if slot is None:
            continue
        span = slot.get("span") if isinstance(slot, dict) else None
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(i, int) and not isinstance(i, bool) for i in span)
            and 0 <= span[0] <= span[1] <= len(example["text"])
        ):
            return f"slot {name} has no [start, end] span within its text"
    return None


class Command(BaseCommand):
    help = (
        "Score money and date entities on NLU++ files: precision, recall and F1 per slot "
        "(a slot counts when its span overlaps and its value is equal)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, nargs="+", required=True, help="NLU++ JSON")
        parser.add_argument(
            "--today",
            type=datetime.date.fromisoformat,
            default=DEFAULT_TODAY,
            help="the day relative dates resolve against (default 2022-03-15, as NLU++)",
        )

    def handle(self, *args, data: list[Path], today: datetime.date, **options):
        examples = read_examples(data)
        scores = evaluate(examples, NlpAgent(today=lambda: today))
        write = self.stdout.write
        write(f"{len(examples)} examples, relative dates resolved against {today}")
        write(f"{'slot':<16}  gold found right  precision recall    F1 span-F1")
        for s in scores:
            write(
                f"{s.name:<16} {s.gold:>5} {s.found:>5} {s.correct:>5}  "
                f"{s.precision:9.3f} {s.recall:6.3f} {s.f1:5.3f} {s.span_f1:7.3f}"
            )
