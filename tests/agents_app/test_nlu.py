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
from agents_app.banking import BankingAgent
from agents_app.banking_help import TOPICS, BankingHelpAgent
from agents_app.management.commands import train_nlu
from agents_app.nlu import (
    EMBEDDING_WEIGHT,
    INTENTS,
    MAX_TOKENS,
    IntentPrediction,
    NluAgent,
    TrainedIntentClassifier,
    WordPieceTokenizer,
    banking77_routes,
    routed_intent,
    training_examples,
)
from agents_app.replies import AgentReply
from agents_app.smalltalk import SmallTalkAgent

# Phrases from the product brief, with the intent and the agent that must answer them; some
# are also training examples on purpose.
SEED_QUESTIONS = [
    ("What is my account balance?", "balance_check", "banking"),
    ("and my savings?", "balance_check", "banking"),
    ("Show my transactions from last month", "transaction_history", "banking"),
    ("Send 50 dollars to John", "money_transfer", "banking"),
    ("what cards do I have", "card_info", "banking"),
    ("I lost my card, block it", "card_block", "banking"),
    ("block my card", "card_block", "banking"),
    ("unblock my card", "card_unblock", "banking"),
    ("what loans do you offer", "loan_info", "banking"),
    ("pay my electricity bill", "bill_payment", "banking"),
    ("what's my IBAN", "account_info", "banking"),
    ("how do I change my PIN", "banking_help", "banking"),
    ("hi there", "greeting", "smalltalk"),
    ("bye", "farewell", "smalltalk"),
    ("what can you do", "help", "smalltalk"),
    ("yes", "affirmation", "smalltalk"),
    ("no", "negation", "smalltalk"),
    ("nope", "negation", "smalltalk"),
    ("thanks!", "thanks", "smalltalk"),
    ("I want to talk to a person", "human_handoff", "handoff"),
    ("talk to a human", "human_handoff", "handoff"),
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

# BANKING77-style questions not in its training split: their category is the topic.
UNSEEN_BANKING77 = [
    ("my new card still hasn't turned up in the post", "card_arrival", "banking_help"),
    ("a thief took my purse with my card inside", "lost_or_stolen_card", "card_block"),
    ("I typed the wrong PIN three times and now it's locked", "pin_blocked", "card_unblock"),
    (
        "why did you take a fee when I sent money to my sister",
        "transfer_fee_charged",
        "banking_help",
    ),
    ("is there an age requirement to open an account with you", "age_limit", "banking_help"),
    ("how do I add my card to apple pay on my iphone", "apple_pay_or_google_pay", "banking_help"),
]

# Questions about transfers already made are not requests to make one.
TRANSFER_PROBLEMS = [
    "the money I sent on monday still hasn't arrived",
    "why did my transfer fail",
    "my transfer has not reached the recipient yet",
]

VAGUE_TEXTS = ["hmm", "asdf qwer", "", "banana", "???", "🙂"]


def small_examples(per_label: int = 6) -> list[tuple[str, str]]:
    """A few examples of every label: enough to exercise training in a couple of seconds."""
    taken: Counter[str] = Counter()
    examples = []
    for text, label in training_examples():
        if taken[label] < per_label:
            taken[label] += 1
            examples.append((text, label))
    return examples


@pytest.fixture(scope="module")
def classifier():
    # The artifact `make test` builds before pytest, or the same model trained once in memory.
    return nlu.default_classifier()


@pytest.fixture(scope="module")
def small_classifier():
    return TrainedIntentClassifier.train(small_examples())


@pytest.fixture
def agent(classifier):
    return NluAgent(classifier=classifier)


def must_not_train(*args, **kwargs):
    raise AssertionError("trained instead of loading the model")


class FixedClassifier:
    def __init__(self, confidence, intent="greeting", alternatives=(("help", 0.1),)):
        self.confidence, self.intent, self.alternatives = confidence, intent, list(alternatives)

    def predict(self, text):
        return IntentPrediction(
            intent=self.intent, confidence=self.confidence, alternatives=self.alternatives
        )


def training_texts() -> set[str]:
    return {text.lower() for text, _ in training_examples()}


# --- the data ---------------------------------------------------------------------------------


def test_every_label_has_enough_examples_and_routes_to_a_known_intent():
    counts = Counter(label for _, label in training_examples())
    assert min(counts.values()) >= 35, counts.most_common()[-5:]
    assert {routed_intent(label) for label in counts} == set(INTENTS)
    assert len(counts) == 77 + len(INTENTS)  # every category and every intent of ours


def test_training_examples_come_in_the_same_order_every_time():
    assert training_examples() == training_examples()


def test_banking77_mapping_lists_every_category_once_onto_known_intents():
    with (nlu.DATA_DIR / "banking77_intents.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (nlu.DATA_DIR / "banking77_train.csv").open(newline="") as f:
        categories = {row["category"] for row in csv.DictReader(f)}
    assert sorted(row["category"] for row in rows) == sorted(categories)
    assert len(categories) == 77
    assert {row["intent"] for row in rows} <= set(INTENTS)


def test_own_examples_use_our_intents_or_banking77_categories():
    with (nlu.DATA_DIR / "intents.csv").open(newline="") as f:
        labels = {row["intent"] for row in csv.DictReader(f)}
    assert labels <= set(INTENTS) | set(banking77_routes())


# --- what the agent understands ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "intent", "_agent"), SEED_QUESTIONS)
def test_seed_questions_get_their_intent(agent, text, intent, _agent):
    result = agent.understand(text)

    assert result.intent == intent, result
    assert not result.needs_clarification


@pytest.mark.parametrize(("text", "intent", "expected_agent"), SEED_QUESTIONS)
def test_seed_questions_reach_the_agent_that_answers_them(agent, text, intent, expected_agent):
    # The orchestrator's routing: a hand-off first, then banking, then small talk.
    result = agent.understand(text)
    if result.intent == "human_handoff":
        routed = "handoff"
    elif result.intent in BankingAgent.handles:
        routed = "banking"
    elif result.intent in SmallTalkAgent.handles:
        routed = "smalltalk"
    else:
        routed = "clarification"

    assert routed == expected_agent, result


def test_a_seed_help_question_keeps_its_topic(agent):
    result = agent.understand("how do I change my PIN")

    assert (result.intent, result.topic) == ("banking_help", "change_pin")


@pytest.mark.parametrize(("text", "intent"), UNSEEN_PARAPHRASES)
def test_unseen_paraphrases_get_their_intent(agent, text, intent):
    assert text.lower() not in training_texts()

    result = agent.understand(text)

    assert result.intent == intent, result
    assert not result.needs_clarification


@pytest.mark.parametrize(("text", "topic", "intent"), UNSEEN_BANKING77)
def test_unseen_banking77_questions_get_their_category_as_topic(agent, text, topic, intent):
    assert text.lower() not in training_texts()

    result = agent.understand(text)

    assert (result.topic, result.intent) == (topic, intent), result
    assert not result.needs_clarification


@pytest.mark.parametrize("text", TRANSFER_PROBLEMS)
def test_a_transfer_problem_is_not_a_transfer_request(agent, text):
    assert text.lower() not in training_texts()

    result = agent.understand(text)

    assert result.intent == "banking_help"
    assert result.topic in {
        "pending_transfer",
        "failed_transfer",
        "transfer_not_received_by_recipient",
        "balance_not_updated_after_bank_transfer",
        "transfer_timing",
    }


@pytest.mark.parametrize("text", VAGUE_TEXTS)
def test_vague_text_needs_clarification(agent, text):
    assert agent.understand(text).needs_clarification


def test_prediction_ranks_up_to_three_alternatives_below_the_label(classifier):
    prediction = classifier.predict("check my balance")

    assert len(prediction.alternatives) == 3
    confidences = [prediction.confidence, *(c for _, c in prediction.alternatives)]
    assert confidences == sorted(confidences, reverse=True)
    assert 0 < sum(confidences) <= 1 + 1e-9
    labels = {prediction.intent, *(label for label, _ in prediction.alternatives)}
    assert labels <= set(classifier.intents)
    assert len(labels) == 4


def test_agent_alternatives_are_other_intents_not_other_categories():
    fixed = FixedClassifier(
        0.5,
        intent="card_arrival",
        alternatives=[("card_delivery_estimate", 0.2), ("card_block", 0.1), ("greeting", 0.05)],
    )

    result = NluAgent(classifier=fixed).understand("where is my card")

    assert result.intent == "banking_help"
    assert result.topic == "card_arrival"
    assert result.confidence == pytest.approx(0.7)  # both categories are banking_help
    assert not result.needs_clarification
    assert result.alternatives == [("card_block", 0.1), ("greeting", 0.05)]


def test_probabilities_average_the_two_models_and_the_neighbours(small_classifier, monkeypatch):
    monkeypatch.setattr("agents_app.nlu.classifier.TFIDF_SURE", 1.01)  # never sure alone
    monkeypatch.setattr("agents_app.nlu.classifier.NEIGHBOURS_WEIGHT", 0.0)
    texts = ["send 20 to anna", "hmm", "", "my card was stolen!!"]

    tfidf = small_classifier.pipeline.predict_proba(texts)
    vectors = np.array([small_classifier.encoder.encode(text) for text in texts])
    embedding = small_classifier.embedding_model.predict_proba(vectors)
    got = np.array([small_classifier.probabilities(text) for text in texts])

    expected = (1 - EMBEDDING_WEIGHT) * tfidf + EMBEDDING_WEIGHT * embedding
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(small_classifier.probabilities_many(texts), got, atol=1e-6)

    monkeypatch.setattr("agents_app.nlu.classifier.NEIGHBOURS_WEIGHT", 0.2)
    votes = np.array([small_classifier.neighbour_vote(v) for v in vectors])
    with_neighbours = np.array([small_classifier.probabilities(text) for text in texts])
    np.testing.assert_allclose(with_neighbours, 0.8 * expected + 0.2 * votes, atol=1e-6)
    np.testing.assert_allclose(with_neighbours.sum(axis=1), 1, atol=1e-6)


def test_the_tfidf_model_answers_alone_only_when_it_is_sure(small_classifier, monkeypatch):
    texts = ["send 20 to anna", "hmm", "my card was stolen!!", "what is my balance"]
    tfidf = small_classifier.pipeline.predict_proba(texts)
    sure = np.sort(tfidf.max(axis=1))
    # A threshold between the surest and the least sure text splits them.
    threshold = (sure[0] + sure[-1]) / 2
    monkeypatch.setattr("agents_app.nlu.classifier.TFIDF_SURE", threshold)
    encoded = []
    encode = small_classifier.encoder.encode
    monkeypatch.setattr(
        small_classifier.encoder, "encode", lambda text: encoded.append(text) or encode(text)
    )

    got = np.array([small_classifier.probabilities(text) for text in texts])

    for text, alone, row in zip(texts, tfidf, got, strict=True):
        if alone.max() >= threshold:
            assert text not in encoded
            np.testing.assert_allclose(row, alone, rtol=1e-5, atol=1e-7)
        else:
            assert text in encoded
            assert not np.allclose(row, alone)
    assert 0 < len(encoded) < len(texts)
    np.testing.assert_allclose(small_classifier.probabilities_many(texts), got, atol=1e-6)


def test_a_training_example_is_its_own_nearest_neighbour(small_classifier):
    text, label = small_examples()[7]

    vote = small_classifier.neighbour_vote(small_classifier.encoder.encode(text))

    assert vote.sum() == pytest.approx(1)
    assert small_classifier.intents[int(np.argmax(vote))] == label


@pytest.mark.parametrize(("confidence", "needs_clarification"), [(0.44, True), (0.45, False)])
def test_agent_asks_for_clarification_below_its_threshold(confidence, needs_clarification):
    agent = NluAgent(classifier=FixedClassifier(confidence), threshold=0.45)

    assert agent.understand("hello").needs_clarification is needs_clarification


def test_out_of_scope_always_needs_clarification():
    agent = NluAgent(classifier=FixedClassifier(0.99, intent="out_of_scope"))

    assert agent.understand("what's the weather").needs_clarification


def test_result_as_dict_is_plain_json(agent):
    data = agent.understand("what's my balance").as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data["intent"] == "balance_check"
    assert data["needs_clarification"] is False
    assert data["topic"] is None
    assert all(set(a) == {"intent", "confidence"} for a in data["alternatives"])


def test_agent_reports_the_intents_it_routes_to(agent):
    assert agent.name == "nlu"
    assert set(agent.intents) == set(INTENTS)


# --- the encoder ------------------------------------------------------------------------------


def test_tokenizer_gives_bert_uncased_ids():
    tokenizer = WordPieceTokenizer(nlu._vocab())

    assert tokenizer.encode("hello world") == [101, 7592, 2088, 102]
    # Lower-cased, split on punctuation, unknown words in pieces, accents stripped.
    assert tokenizer.encode("Unblock my CARD!") == [101, 4895, 23467, 2026, 4003, 999, 102]
    assert tokenizer.encode("Café déjà vu") == [101, 7668, 2139, 3900, 24728, 102]
    assert tokenizer.encode("") == [101, 102]


def test_long_messages_are_cut_to_the_token_budget():
    tokenizer = WordPieceTokenizer(nlu._vocab())

    ids = tokenizer.encode("word " * 2000)

    assert len(ids) == MAX_TOKENS
    assert ids[-1] == 102


def test_encoder_gives_one_unit_vector_per_layer(small_classifier):
    vector = small_classifier.encoder.encode("where is my card")

    layers = vector.reshape(nlu.ENCODER_LAYERS, -1)
    assert layers.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(layers, axis=1), 1, rtol=1e-5)
    assert np.array_equal(small_classifier.encoder.encode("where is my card"), vector)


# --- training, saving, loading ----------------------------------------------------------------


def test_training_is_deterministic(small_classifier):
    again = TrainedIntentClassifier.train(small_examples())
    texts = [text for text, *_ in SEED_QUESTIONS + UNSEEN_PARAPHRASES] + VAGUE_TEXTS

    assert again.encoder_bytes == small_classifier.encoder_bytes
    for text in texts:
        assert np.array_equal(again.probabilities(text), small_classifier.probabilities(text))


def test_save_and_load_round_trip(small_classifier, tmp_path):
    path = tmp_path / "models" / "nlu.skops"

    small_classifier.save(path)
    loaded = TrainedIntentClassifier.load(path)

    assert loaded.intents == small_classifier.intents
    assert loaded.data_fingerprint == small_classifier.data_fingerprint
    for text, *_ in SEED_QUESTIONS:
        assert np.array_equal(loaded.probabilities(text), small_classifier.probabilities(text))
    assert [p.name for p in path.parent.iterdir()] == ["nlu.skops"]  # no temporary left


def test_load_refuses_a_model_from_another_scikit_learn(small_classifier, tmp_path, monkeypatch):
    path = tmp_path / "nlu.skops"
    with monkeypatch.context() as m:
        m.setattr(nlu.sklearn, "__version__", "0.1")
        small_classifier.save(path)

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


@pytest.fixture
def small_data(monkeypatch):
    """The app's training data is the small set, so training in memory takes seconds."""
    examples = small_examples()
    monkeypatch.setattr(nlu, "training_examples", lambda: list(examples))
    monkeypatch.setattr(nlu, "_default", None)
    return examples


def test_default_classifier_loads_a_current_model(
    small_classifier, small_data, tmp_path, settings, monkeypatch
):
    settings.NLU_MODEL_PATH = tmp_path / "nlu.skops"
    small_classifier.save(settings.NLU_MODEL_PATH)
    monkeypatch.setattr(TrainedIntentClassifier, "train", must_not_train)

    loaded = nlu.default_classifier()

    assert loaded.data_fingerprint == small_classifier.data_fingerprint
    assert nlu.default_classifier() is loaded


def test_default_classifier_trains_when_there_is_no_model(small_data, tmp_path, settings, caplog):
    settings.NLU_MODEL_PATH = tmp_path / "missing.skops"

    with caplog.at_level(logging.INFO, logger="agents_app.nlu"):
        trained = nlu.default_classifier()

    assert routed_intent(trained.predict("block my card").intent) == "card_block"
    assert "training in memory" in caplog.text
    assert not settings.NLU_MODEL_PATH.exists()


def test_default_classifier_retrains_when_the_data_changed(
    small_classifier, small_data, tmp_path, settings, caplog
):
    stale = TrainedIntentClassifier.train(small_data[:-1])
    settings.NLU_MODEL_PATH = tmp_path / "nlu.skops"
    stale.save(settings.NLU_MODEL_PATH)

    with caplog.at_level(logging.WARNING, logger="agents_app.nlu"):
        fresh = nlu.default_classifier()

    assert fresh.data_fingerprint == small_classifier.data_fingerprint
    assert "predates the training data" in caplog.text


def test_default_classifier_is_built_once_under_concurrent_first_use(small_classifier, monkeypatch):
    calls = []
    started = threading.Barrier(8)

    def slow_build():
        calls.append(1)
        threading.Event().wait(0.05)  # let the other threads pile up on the lock
        return small_classifier

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
    assert all(result is small_classifier for result in results)


def test_train_nlu_command_writes_the_model(tmp_path, monkeypatch):
    examples = small_examples()
    monkeypatch.setattr(train_nlu, "training_examples", lambda: list(examples))
    path = tmp_path / "var" / "nlu.skops"
    out = StringIO()

    call_command("train_nlu", "--output", str(path), "--cv", stdout=out)

    output = out.getvalue()
    labels = len({label for _, label in examples})
    assert f"{len(examples)} examples, {labels} labels (77 BANKING77 categories" in output
    accuracy = float(output.split("cross-validated accuracy: ")[1].split()[0])
    assert 0.3 <= accuracy <= 1  # six examples a label: a smoke test, not a benchmark
    model = TrainedIntentClassifier.load(path)
    assert routed_intent(model.predict("freeze my card").intent) == "card_block"


# --- the help answers -------------------------------------------------------------------------


def test_every_banking77_category_has_an_answer_that_agrees_with_its_route():
    assert set(TOPICS) == set(banking77_routes())
    for category, topic in TOPICS.items():
        route = banking77_routes()[category]
        assert route == (topic.action or "banking_help"), category
        assert topic.text.strip() and len(topic.text) < 300, category
        assert not (topic.handoff and topic.action), category


def test_a_help_answer_is_an_agent_reply_with_buttons():
    reply = BankingHelpAgent().answer(topic="card_arrival")

    assert isinstance(reply, AgentReply)
    assert "5 working days" in reply.text
    assert reply.quick_replies[-1] == "Talk to a person"
    assert reply.data == {"topic": "card_arrival", "handoff": False}


def test_a_dispute_is_handed_to_a_person():
    reply = BankingHelpAgent().answer(topic="card_payment_not_recognised")

    assert reply.data["handoff"] is True
    assert "person" in reply.text


def test_an_unknown_topic_gets_the_general_help_answer():
    reply = BankingHelpAgent().answer(topic="not_a_category")

    assert reply.data == {"topic": "not_a_category", "handoff": False}
    assert "Talk to a person" in reply.quick_replies
