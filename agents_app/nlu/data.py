"""The training data in agents_app/nlu_data/, and the intents its labels are routed as."""

import csv
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "nlu_data"

# What the orchestrator routes on. BANKING77 categories map onto these (banking77_intents.csv).
INTENTS: tuple[str, ...] = (
    "balance_check",
    "transaction_history",
    "money_transfer",
    "card_info",
    "card_block",
    "card_unblock",
    "loan_info",
    "bill_payment",
    "account_info",
    "banking_help",
    "greeting",
    "farewell",
    "help",
    "affirmation",
    "negation",
    "thanks",
    "human_handoff",
    # Gibberish, fillers and questions no bank answers: the agent asks what the user meant.
    "out_of_scope",
)
OUT_OF_SCOPE = "out_of_scope"


def training_examples() -> list[tuple[str, str]]:
    """(text, label) pairs from agents_app/nlu_data/, always in the same order."""
    return [*_own_examples(), *banking77_examples()]


def _own_examples() -> list[tuple[str, str]]:
    with (DATA_DIR / "intents.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["intent"]) for row in csv.DictReader(f)]


def banking77_examples() -> list[tuple[str, str]]:
    """BANKING77's training split as (text, category), in file order."""
    with (DATA_DIR / "banking77_train.csv").open(newline="", encoding="utf-8") as f:
        return [(row["text"], row["category"]) for row in csv.DictReader(f)]


@cache
def banking77_routes() -> dict[str, str]:
    """Each BANKING77 category and the intent the orchestrator routes it as."""
    with (DATA_DIR / "banking77_intents.csv").open(newline="", encoding="utf-8") as f:
        return {row["category"]: row["intent"] for row in csv.DictReader(f)}


def routed_intent(label: str) -> str:
    """The intent a classifier label is routed as: a category's mapping, else itself."""
    return banking77_routes().get(label, label)
