import csv
import json
import logging
import pickle
import threading
import zipfile
from collections import Counter
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from agents_app import nlu
from agents_app.nlu import (
    INTENTS,
    IntentPrediction,
    NluAgent,
    TrainedIntentClassifier,
    training_examples,
)

# Phrases from the product brief; some are also training examples on purpose.
SEED_QUESTIONS = [
    ("What is my account balance?", "balance_check"),
    ("and my savings?", "balance_check"),
    ("Show my transactions from last month", "transaction_history"),
    ("Send 50 dollars to John", "money_transfer"),
    ("what cards do I have", "card_info"),
    ("I lost my card, block it", "card_block"),
    ("block my card", "card_block"),
    ("unblock my card", "card_unblock"),
    ("what loans do you offer", "loan_info"),
    ("pay my electricity bill", "bill_payment"),
    ("what's my IBAN", "account_info"),
    ("how do I change my PIN", "banking_help"),
    ("hi there", "greeting"),
    ("bye", "farewell"),
    ("what can you do", "help"),
    ("yes", "affirmation"),
    ("no", "negation"),
    ("nope", "negation"),
    ("thanks!", "thanks"),
    ("I want to talk to a person", "human_handoff"),
    ("talk to a human", "human_handoff"),
]

# Never seen in training (checked below), so these measure generalisation, not memory.
UNSEEN_PARAPHRASES = [
    ("how much money is in my checking account right now", "balance_check"),
    ("and what about my savings?", "balance_check"),
    ("list the payments from my account in june", "transaction_history"),
    ("transfer 40 dollars to bob", "money_transfer"),
    ("what's the limit on my credit card", "card_info"),
    ("please block my debit card i think it was stolen", "card_block"),
    ("I found my card, unfreeze it please", "card_unblock"),
    ("i'd like to apply for a personal loan", "loan_info"),
    ("pay the gas bill for this month", "bill_payment"),
    ("what's my account number and sort code", "account_info"),
    ("hey there, good evening", "greeting"),
    ("see you later, bye", "farewell"),
    ("what sort of things can you help me with", "help"),
    ("yes please do that", "affirmation"),
    ("nope, not that", "negation"),
    ("thanks so much for the help", "thanks"),
    ("can you connect me to a person please", "human_handoff"),
]

# Questions about transfers already made are not requests to make one.
TRANSFER_PROBLEMS = [
    "the money I sent on monday still hasn't arrived",
    "why did my transfer fail",
    "my transfer has not reached the recipient yet",
]

VAGUE_TEXTS = ["hmm", "asdf qwer", "", "banana"]


@pytest.fixture(scope="module")
def classifier():
    return TrainedIntentClassifier.train(training_examples())


@pytest.fixture
def agent(classifier):
    return NluAgent(classifier=classifier)


def must_not_train(*args, **kwargs):
    raise AssertionError("trained instead of loading the model")


class FixedClassifier:
    def __init__(self, confidence):
        self.confidence = confidence

    def predict(self, text):
        return IntentPrediction(
            intent="greeting", confidence=self.confidence, alternatives=[("help", 0.1)]
        )


def test_every_intent_has_enough_examples_and_no_unknown_labels():
    counts = Counter(intent for _, intent in training_examples())
    assert set(counts) == set(INTENTS)
    assert min(counts.values()) >= 40, counts


def test_training_examples_come_in_the_same_order_every_time():
    assert training_examples() == training_examples()


def test_banking77_mapping_lists_every_category_once_onto_known_intents():
    with (nlu.DATA_DIR / "banking77_intents.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (nlu.DATA_DIR / "banking77_train.csv").open(newline="") as f:
        categories = {row["category"] for row in csv.DictReader(f)}
    assert sorted(row["category"] for row in rows) == sorted(categories)
    assert len(categories) == 77
    assert {row["intent"] for row in rows} - {""} <= set(INTENTS)


@pytest.mark.parametrize(("text", "intent"), SEED_QUESTIONS)
def test_seed_questions_get_their_intent(agent, text, intent):
    result = agent.understand(text)

    assert result.intent == intent, result
    assert not result.needs_clarification


@pytest.mark.parametrize(("text", "intent"), UNSEEN_PARAPHRASES)
def test_unseen_paraphrases_get_their_intent(agent, text, intent):
    assert text.lower() not in {t.lower() for t, _ in training_examples()}

    result = agent.understand(text)

    assert result.intent == intent, result
    assert not result.needs_clarification


@pytest.mark.parametrize("text", TRANSFER_PROBLEMS)
def test_a_transfer_problem_is_not_a_transfer_request(agent, text):
    assert text.lower() not in {t.lower() for t, _ in training_examples()}

    assert agent.understand(text).intent == "banking_help"


@pytest.mark.parametrize("text", VAGUE_TEXTS)
def test_vague_text_needs_clarification(agent, text):
    assert agent.understand(text).needs_clarification


def test_prediction_ranks_up_to_three_alternatives_below_the_intent(classifier):
    prediction = classifier.predict("check my balance")

    assert len(prediction.alternatives) == 3
    confidences = [prediction.confidence, *(c for _, c in prediction.alternatives)]
    assert confidences == sorted(confidences, reverse=True)
    assert 0 < sum(confidences) <= 1 + 1e-9
    assert {prediction.intent, *(i for i, _ in prediction.alternatives)} <= set(INTENTS)
    assert len({prediction.intent, *(i for i, _ in prediction.alternatives)}) == 4


def test_fast_path_matches_the_scikit_learn_pipeline(classifier):
    texts = ["send 20 to anna", "hmm", "", "my card was stolen!!"]

    expected = classifier.pipeline.predict_proba(texts)
    got = np.array([classifier.probabilities(text) for text in texts])

    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("confidence", "needs_clarification"), [(0.44, True), (0.45, False)])
def test_agent_asks_for_clarification_below_its_threshold(confidence, needs_clarification):
    agent = NluAgent(classifier=FixedClassifier(confidence), threshold=0.45)

    assert agent.understand("hello").needs_clarification is needs_clarification


def test_result_as_dict_is_plain_json(agent):
    data = agent.understand("what's my balance").as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["intent"] == "balance_check"
    assert data["needs_clarification"] is False
    assert [set(a) for a in data["alternatives"]] == [{"intent", "confidence"}] * 3


def test_agent_reports_the_classifiers_intents(agent):
    assert agent.name == "nlu"
    assert set(agent.intents) == set(INTENTS)


def test_training_is_deterministic(classifier):
    again = TrainedIntentClassifier.train(training_examples())
    texts = [text for text, _ in SEED_QUESTIONS + UNSEEN_PARAPHRASES] + VAGUE_TEXTS

    for text in texts:
        assert np.array_equal(again.probabilities(text), classifier.probabilities(text)), text


def test_save_and_load_round_trip(classifier, tmp_path):
    path = tmp_path / "models" / "nlu.skops"

    classifier.save(path)
    loaded = TrainedIntentClassifier.load(path)

    assert loaded.intents == classifier.intents
    assert loaded.data_fingerprint == classifier.data_fingerprint
    for text, _ in SEED_QUESTIONS:
        assert np.array_equal(loaded.probabilities(text), classifier.probabilities(text))
    assert [p.name for p in path.parent.iterdir()] == ["nlu.skops"]  # no temporary left


def test_load_refuses_a_model_from_another_scikit_learn(classifier, tmp_path, monkeypatch):
    path = tmp_path / "nlu.skops"
    with monkeypatch.context() as m:
        m.setattr(nlu.sklearn, "__version__", "0.1")
        classifier.save(path)

    with pytest.raises(ValueError, match=r"scikit-learn 0\.1,"):
        TrainedIntentClassifier.load(path)


class Payload:
    """Unpickling this creates a file: what a tampered pickle artifact could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_load_never_unpickles(tmp_path):
    path, marker = tmp_path / "nlu.skops", tmp_path / "pwned"
    path.write_bytes(pickle.dumps(Payload(marker)))

    with pytest.raises(zipfile.BadZipFile):
        TrainedIntentClassifier.load(path)
    assert not marker.exists()


def test_default_classifier_loads_a_current_model(classifier, tmp_path, settings, monkeypatch):
    settings.NLU_MODEL_PATH = tmp_path / "nlu.skops"
    classifier.save(settings.NLU_MODEL_PATH)
    monkeypatch.setattr(nlu, "_default", None)
    monkeypatch.setattr(TrainedIntentClassifier, "train", must_not_train)

    loaded = nlu.default_classifier()

    assert loaded.data_fingerprint == classifier.data_fingerprint
    assert nlu.default_classifier() is loaded


def test_default_classifier_trains_when_there_is_no_model(tmp_path, settings, monkeypatch, caplog):
    settings.NLU_MODEL_PATH = tmp_path / "missing.skops"
    monkeypatch.setattr(nlu, "_default", None)

    with caplog.at_level(logging.INFO, logger="agents_app.nlu"):
        trained = nlu.default_classifier()

    assert trained.predict("block my card").intent == "card_block"
    assert "training in memory" in caplog.text
    assert not settings.NLU_MODEL_PATH.exists()


def test_default_classifier_retrains_when_the_data_changed(
    classifier, tmp_path, settings, monkeypatch, caplog
):
    stale = TrainedIntentClassifier.train(training_examples()[:-1])
    settings.NLU_MODEL_PATH = tmp_path / "nlu.skops"
    stale.save(settings.NLU_MODEL_PATH)
    monkeypatch.setattr(nlu, "_default", None)

    with caplog.at_level(logging.WARNING, logger="agents_app.nlu"):
        fresh = nlu.default_classifier()

    assert fresh.data_fingerprint == classifier.data_fingerprint
    assert "predates the training data" in caplog.text


def test_default_classifier_is_built_once_under_concurrent_first_use(classifier, monkeypatch):
    calls = []
    started = threading.Barrier(8)

    def slow_build():
        calls.append(1)
        threading.Event().wait(0.05)  # let the other threads pile up on the lock
        return classifier

    monkeypatch.setattr(nlu, "_default", None)
    monkeypatch.setattr(nlu, "_load_or_train", slow_build)
    results = []

    def first_use():
        started.wait()
        results.append(nlu.default_classifier())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert len(results) == 8
    assert all(result is classifier for result in results)


def test_train_nlu_command_writes_the_model(tmp_path):
    path = tmp_path / "var" / "nlu.skops"
    out = StringIO()

    call_command("train_nlu", "--output", str(path), "--cv", stdout=out)

    output = out.getvalue()
    assert f"{len(training_examples())} examples, {len(INTENTS)} intents" in output
    accuracy = float(output.split("cross-validated accuracy: ")[1].split()[0])
    assert 0.8 <= accuracy <= 1
    model = TrainedIntentClassifier.load(path)
    assert model.predict("freeze my card").intent == "card_block"
