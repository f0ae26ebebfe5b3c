"""The evaluation commands, on tiny fixtures whose figures are worked out by hand below."""

import datetime
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents_app import nlu
from agents_app.management.commands import eval_entities, eval_nlu
from agents_app.nlp import NlpAgent
from agents_app.nlu import IntentPrediction

FIXTURES = Path(__file__).parent / "fixtures"
INTENTS_CSV = FIXTURES / "intents_tiny.csv"
NLUPP_JSON = FIXTURES / "nlupp_tiny.json"

# What the fake classifier answers for each fixture row: (top label, alternatives).
ANSWERS = {
    "where is my new card": ("card_arrival", []),
    "my card has not come yet": ("card_arrival", []),
    "card still not here": ("lost_or_stolen_card", []),  # wrong
    "how do I change my pin": ("change_pin", []),
    "I want a new pin": ("card_arrival", []),  # wrong
    "my card was stolen": ("lost_or_stolen_card", []),
    # Our own label on top: among the BANKING77 categories it is the next one, right.
    "I lost my card": ("card_block", ["lost_or_stolen_card", "change_pin"]),
    "someone took my card": ("lost_or_stolen_card", []),
    "the exchange rate was wrong": ("card_payment_wrong_exchange_rate", []),
    # No BANKING77 category among the alternatives: stays wrong.
    "exchange rate is off": ("greeting", ["thanks", "help"]),
}
# 7 of 10 right. Per category (gold rows, answers given, right):
#   card_arrival 3, 3, 2 -> P 2/3 R 2/3 F1 2/3;  change_pin 2, 1, 1 -> P 1 R 1/2 F1 2/3
#   lost_or_stolen_card 3, 4, 3 -> P 3/4 R 1 F1 6/7;  ..._wrong_exchange_rate 2, 1, 1 -> F1 2/3
MACRO_F1 = (2 / 3 + 2 / 3 + 6 / 7 + 2 / 3) / 4


class FakeClassifier:
    """Answers from ANSWERS; what it was trained on is recorded by FakeTrainer."""

    def predict(self, text):
        intent, alternatives = ANSWERS[text]
        return IntentPrediction(
            intent=intent, confidence=0.9, alternatives=[(a, 0.01) for a in alternatives]
        )


class FakeTrainer:
    def __init__(self):
        self.trained_on = []

    def __call__(self, examples, *, seed=0):
        self.trained_on.append([text for text, _ in examples])
        return FakeClassifier()


def test_scores_match_the_hand_worked_figures():
    rows = eval_nlu.read_rows(INTENTS_CSV)
    gold = [category for _, category in rows]
    labels = eval_nlu.candidate_labels(gold)

    run = eval_nlu.evaluate(FakeClassifier(), rows, labels)
    report = eval_nlu.score(gold, run)

    assert report.messages == 10
    assert report.accuracy == pytest.approx(0.7)
    assert report.macro_f1 == pytest.approx(MACRO_F1)
    assert report.outside == 1
    by_intent = {s.intent: s for s in report.scores}
    assert by_intent["lost_or_stolen_card"].precision == pytest.approx(0.75)
    assert by_intent["lost_or_stolen_card"].recall == 1
    assert by_intent["change_pin"].f1 == pytest.approx(2 / 3)
    assert by_intent["change_pin"].mistaken_for == "card_arrival"
    assert by_intent["card_payment_wrong_exchange_rate"].mistaken_for == "greeting"
    assert report.scores[-1].intent == "lost_or_stolen_card"  # the best comes last
    assert len(report.latencies_ms) == len(report.cpu_ms) == 10
    assert all(ms >= 0 for ms in report.latencies_ms + report.cpu_ms)


def test_without_banking77_data_any_label_may_answer():
    rows = [("I lost my card", "card_block"), ("exchange rate is off", "greeting")]

    labels = eval_nlu.candidate_labels([category for _, category in rows])
    run = eval_nlu.evaluate(FakeClassifier(), rows, labels)

    assert labels is None
    assert run.predicted == ["card_block", "greeting"]
    assert run.outside == 0


def test_eval_nlu_command_prints_the_figures(monkeypatch):
    monkeypatch.setattr(nlu, "default_classifier", FakeClassifier)
    out = StringIO()

    call_command("eval_nlu", "--data", str(INTENTS_CSV), stdout=out)

    output = out.getvalue()
    assert "answers limited to the 77 BANKING77 categories" in output
    assert "messages: 10" in output
    assert "accuracy: 0.7000" in output
    assert f"macro-F1: {MACRO_F1:.4f}" in output
    assert "top label outside those categories: 1 messages" in output
    assert "latency per message: p50 " in output and " ms, p99 " in output
    assert "CPU time per message: p50 " in output
    worst = output.split("most often mistaken for):\n")[1].splitlines()
    assert len(worst) == 4  # fewer than ten categories in the file
    assert worst[0].split() == [
        "card_arrival",
        "0.667",
        "0.667",
        "0.667",
        "3",
        "lost_or_stolen_card",
    ]
    assert worst[-1].split()[0] == "lost_or_stolen_card"


def test_cross_validation_holds_each_row_out_exactly_once(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(nlu.TrainedIntentClassifier, "train", trainer)
    rows = eval_nlu.read_rows(INTENTS_CSV)

    report = eval_nlu.cross_validate(rows, folds=2)

    assert len(trainer.trained_on) == 2
    texts = [text for text, _ in rows]
    held_out = [[t for t in texts if t not in trained] for trained in trainer.trained_on]
    assert sorted(held_out[0] + held_out[1]) == sorted(texts)
    # The fake ignores what it learnt, so the figures are those of a plain run (all labels).
    assert report.accuracy == pytest.approx(0.6)  # "I lost my card" now answers card_block
    assert report.messages == 10


def test_eval_nlu_cv_option(monkeypatch):
    monkeypatch.setattr(nlu.TrainedIntentClassifier, "train", FakeTrainer())
    out = StringIO()

    call_command("eval_nlu", "--data", str(INTENTS_CSV), "--cv", "2", stdout=out)

    assert "2-fold cross-validation on" in out.getvalue()
    assert "accuracy: 0.6000" in out.getvalue()


def test_eval_nlu_refuses_a_file_without_the_columns(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nhi,greeting\n")

    with pytest.raises(CommandError, match="text,category"):
        call_command("eval_nlu", "--data", str(bad), stdout=StringIO())


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "No such file"),
        (b"text,category\n\xff\xfe,greeting\n", "utf-8"),
        (b"text,category\nhello,\n", "line 2: empty text or category"),
        (b"text,category\n   ,greeting\n", "line 2: empty text or category"),
        (b"text,category\n", "has no rows"),
    ],
)
def test_eval_nlu_says_what_is_wrong_with_a_file(tmp_path, content, says):
    data = tmp_path / "data.csv"
    if content is not None:
        data.write_bytes(content)

    with pytest.raises(CommandError, match=says):
        call_command("eval_nlu", "--data", str(data), stdout=StringIO())


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--cv", "1"], "at least 2 folds"),
        (["--cv", "-3"], "at least 2 folds"),
        (["--cv", "500"], "cannot cross-validate"),
        (["--model", "/nonexistent/model.skops"], "cannot load the model"),
    ],
)
def test_eval_nlu_says_what_is_wrong_with_an_option(tmp_path, options, says):
    with pytest.raises(CommandError, match=says):
        call_command("eval_nlu", "--data", str(INTENTS_CSV), *options, stdout=StringIO())


def test_eval_nlu_refuses_a_model_file_that_is_not_one(tmp_path):
    foreign = tmp_path / "model.skops"
    foreign.write_text("not a model")
    with pytest.raises(CommandError, match="cannot load the model"):
        call_command("eval_nlu", "--data", str(INTENTS_CSV), "--model", str(foreign))


def test_train_nlu_makes_the_output_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(nlu.TrainedIntentClassifier, "train", lambda examples: FakeModel())
    output = tmp_path / "new" / "folder" / "model.skops"
    call_command("train_nlu", "--output", str(output), stdout=StringIO())
    assert output.read_text() == "model"


class FakeModel:
    def save(self, path):
        path.write_text("model")


def test_train_nlu_refuses_an_output_it_cannot_write_before_training(monkeypatch, tmp_path):
    def never(*args, **kwargs):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(nlu.TrainedIntentClassifier, "train", never)
    a_file = tmp_path / "a-file"
    a_file.write_text("")  # no folder can be made under a file, whoever runs this
    with pytest.raises(CommandError, match="cannot write"):
        call_command("train_nlu", "--output", str(a_file / "model.skops"), stdout=StringIO())


# --- entities --------------------------------------------------------------------------------
# Gold slots in nlupp_tiny.json, and what the NLP agent finds (resolved on 2022-03-15):
#   amount_of_money: gold 50 and 25 (the second deliberately off); found 50, 20 and 30 (the
#     last where nothing is annotated): 1 right of 3 found and 2 gold -> P 1/3, R 1/2, F1 0.4;
#     on spans alone 2 right -> F1 0.8
#   date: "tomorrow" found; "the other day" missed -> P 1, R 1/2, F1 2/3
#   date_period: "last week" = 7-13 March -> 1/1; date_from, date_to: "from 1 March to 10
#     March" -> 1/1 each


def test_entity_scores_match_the_hand_worked_figures():
    examples = json.loads(NLUPP_JSON.read_text())

    scores = {
        s.name: s
        for s in eval_entities.evaluate(
            examples, NlpAgent(today=lambda: datetime.date(2022, 3, 15))
        )
    }

    money = scores["amount_of_money"]
    assert (money.gold, money.found, money.correct, money.located) == (2, 3, 1, 2)
    assert money.precision == pytest.approx(1 / 3)
    assert money.recall == pytest.approx(0.5)
    assert money.f1 == pytest.approx(0.4)
    assert money.span_f1 == pytest.approx(0.8)
    date = scores["date"]
    assert (date.gold, date.found, date.correct) == (2, 1, 1)
    assert date.f1 == pytest.approx(2 / 3)
    for name in ("date_period", "date_from", "date_to"):
        assert (scores[name].gold, scores[name].found, scores[name].correct) == (1, 1, 1), name
        assert scores[name].f1 == 1


def test_relative_dates_follow_the_today_option():
    examples = json.loads(NLUPP_JSON.read_text())[:1]

    scores = eval_entities.evaluate(examples, NlpAgent(today=lambda: datetime.date(2022, 3, 16)))

    date = next(s for s in scores if s.name == "date")
    assert (date.found, date.correct, date.located) == (1, 0, 1)  # tomorrow is now the 17th


def test_eval_entities_command_prints_a_row_per_slot():
    out = StringIO()

    call_command("eval_entities", "--data", str(NLUPP_JSON), "--today", "2022-03-15", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "7 examples, relative dates resolved against 2022-03-15"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["amount_of_money"] == ["2", "3", "1", "0.333", "0.500", "0.400", "0.800"]
    assert rows["date"] == ["2", "1", "1", "1.000", "0.500", "0.667", "0.667"]
    assert rows["date_to"] == ["1", "1", "1", "1.000", "1.000", "1.000", "1.000"]


def test_eval_entities_refuses_a_file_of_another_format(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"text": "not a list"}')

    with pytest.raises(CommandError, match="not an NLU"):
        call_command("eval_entities", "--data", str(bad), stdout=StringIO())


@pytest.mark.parametrize(
    ("examples", "says"),
    [
        ('[{"text": 5}]', "example 0: not an example with text"),
        ('[{"text": "hi"}, 5]', "example 1: not an example with text"),
        ('[{"text": "hi", "slots": "x"}]', "slots is not an object"),
        ('[{"text": "hi", "slots": {"date": {"span": "a"}}}]', "slot date has no"),
        ('[{"text": "hi", "slots": {"date": {"span": [1, 200]}}}]', "slot date has no"),
        ("not json", "Expecting value"),
    ],
)
def test_eval_entities_says_which_example_is_wrong(tmp_path, examples, says):
    data = tmp_path / "fold.json"
    data.write_text(examples)

    with pytest.raises(CommandError, match=says):
        call_command("eval_entities", "--data", str(data), stdout=StringIO())
