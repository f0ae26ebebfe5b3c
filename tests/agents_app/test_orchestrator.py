"""Multi-turn conversations through the real pipeline (NLP, NLU model, Banking) on PostgreSQL."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents_app.banking import BankingAgent
from agents_app.demo_data import seed_demo
from agents_app.mcp_agent import McpAgent
from agents_app.models import Account, AuditRecord, BankTransaction, Card, Transfer
from agents_app.nlu import NluAgent, default_classifier
from agents_app.orchestrator import Orchestrator, default_orchestrator
from agents_app.smalltalk import SmallTalkAgent
from messaging_app.models import ChatMessage
from messaging_app.services import message_send
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import session_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    seed_demo(days=90)
    return get_user_model().objects.get(username="test")


@pytest.fixture
def chat(customer):
    session = session_create(actor=customer)

    def say(text: str, **kwargs):
        return message_send(actor=customer, session_id=session.pk, content=text, **kwargs)

    say.session = session
    return say


def balance(kind: str) -> Decimal:
    return Account.objects.get(user_id="test", account_type=kind).balance


def test_balance_question_and_its_follow_up(chat):
    first = chat("What is my account balance?")
    assert first.reply.intent == "balance_check"
    assert "$5,432.10" in first.reply.content and "$12,500.00" in first.reply.content
    assert first.reply.agent_info["primary"] == "banking"

    follow_up = chat("and my savings?")
    assert follow_up.reply.agent_info["primary"] == "banking"
    assert "Savings" in follow_up.reply.content and "$12,500.00" in follow_up.reply.content
    assert "$5,432.10" not in follow_up.reply.content
    context = ChatSession.objects.get(pk=chat.session.pk).conversation_context
    assert context["currentIntent"] == "balance_check"


def test_every_reply_stores_what_the_agents_found(chat):
    turn = chat("What is my account balance?")
    stored = ChatMessage.objects.get(pk=turn.reply.pk)
    user_message = ChatMessage.objects.get(pk=turn.message.pk)
    assert stored.intent == user_message.intent == "balance_check"
    assert 0 < stored.confidence_score <= 1
    assert stored.sentiment in {"positive", "neutral", "negative"}
    assert stored.processing_time_ms is not None
    assert set(stored.agent_info["agentsInvolved"]) >= {"nlp", "nlu", "banking"}
    assert set(stored.agent_info["timings"]) >= {"nlp", "nlu", "banking"}
    assert stored.processing["language"] == "en"
    assert stored.processing["route"] == "banking"
    assert stored.metadata["quickReplies"]
    assert stored.parent_message_id == user_message.pk


def test_history_for_last_month(chat):
    today = timezone.localdate()
    first_of_this_month = today.replace(day=1)
    end = first_of_this_month - timedelta(days=1)
    start = end.replace(day=1)
    expected = BankTransaction.objects.filter(
        account__user_id="test", booked_at__date__gte=start, booked_at__date__lte=end
    ).count()

    turn = chat("Show me my transactions from last month")
    assert turn.reply.intent == "transaction_history"
    result = turn.reply.processing["result"]
    assert (result["start"], result["end"]) == (start.isoformat(), end.isoformat())
    assert result["count"] == min(expected, 50)
    assert all(start <= date.fromisoformat(t["date"]) <= end for t in result["transactions"])
    money = [e for e in turn.reply.entities if e["type"] == "period"]
    assert money, turn.reply.entities


def test_transfer_with_confirmation_moves_money_exactly_once(chat):
    checking, savings = balance("checking"), balance("savings")
    ask = chat("Transfer $50 from checking to savings")
    assert ask.reply.intent == "money_transfer"
    assert "confirm" in ask.reply.content.lower()
    assert ask.reply.metadata["quickReplies"] == ["Yes", "No"]
    assert Transfer.objects.count() == 0  # nothing moves before the confirmation

    done = chat("yes")
    assert "Done" in done.reply.content
    assert balance("checking") == checking - Decimal("50.00")
    assert balance("savings") == savings + Decimal("50.00")

    chat("yes")  # a second confirmation has nothing pending
    assert Transfer.objects.count() == 1
    assert balance("checking") == checking - Decimal("50.00")
    audit = AuditRecord.objects.get(action="transfer.create")
    assert audit.user_id == "test" and audit.data["amount"] == "50.00"
    assert "pendingTransfer" not in ChatSession.objects.get(pk=chat.session.pk).conversation_context


def test_transfer_collects_missing_details_over_several_turns(chat):
    assert "How much" in chat("I want to transfer money").reply.content
    assert "come from" in chat("200").reply.content
    assert "receive" in chat("checking").reply.content
    confirm = chat("to my savings account")
    assert "$200.00" in confirm.reply.content and "confirm" in confirm.reply.content.lower()
    assert "cancelled" in chat("no").reply.content
    assert Transfer.objects.count() == 0


def test_resent_confirmation_does_not_move_money_twice(chat):
    checking = balance("checking")
    chat("Transfer $25 from checking to savings")
    chat("yes", client_message_id="confirm-1")
    chat("yes", client_message_id="confirm-1")
    assert Transfer.objects.count() == 1
    assert balance("checking") == checking - Decimal("25.00")


def test_overdraft_is_refused(chat):
    checking, savings = balance("checking"), balance("savings")
    chat("Transfer $9000 from checking to savings")
    refused = chat("yes")
    assert "overdraw" in refused.reply.content
    assert refused.reply.processing["result"]["refused"] == "insufficient_funds"
    assert (balance("checking"), balance("savings")) == (checking, savings)
    assert Transfer.objects.count() == 0 and not AuditRecord.objects.exists()


def test_card_is_blocked(chat):
    ask = chat("I lost my card, please block it")
    assert ask.reply.intent == "card_block"
    assert "Which card" in ask.reply.content
    done = chat("the card ending 4242")
    assert "blocked" in done.reply.content
    assert Card.objects.get(user_id="test", last4="4242").status == "blocked"
    assert Card.objects.get(user_id="test", last4="5555").status == "active"
    assert AuditRecord.objects.filter(action="card.block").count() == 1

    chat("unblock my card ending 4242")
    assert Card.objects.get(user_id="test", last4="4242").status == "active"


def test_vague_message_gets_a_clarifying_question(chat):
    turn = chat("hmm")
    assert turn.reply.processing["clarification"] is True
    assert "not sure" in turn.reply.content
    assert turn.reply.metadata["quickReplies"]
    assert ChatSession.objects.get(pk=chat.session.pk).state["clarifications"] == 1


def test_asking_for_a_person_hands_off_and_the_bot_goes_quiet(chat):
    turn = chat("I want to talk to a real person")
    assert turn.reply.intent == "human_handoff"
    session = ChatSession.objects.get(pk=chat.session.pk)
    assert session.status == SessionStatus.PENDING
    assert session.state["handoffReason"] == "user_request"

    quiet = chat("hello? anyone there?")
    assert quiet.reply is None
    stored = ChatMessage.objects.get(pk=quiet.message.pk)
    assert stored.intent is not None  # still understood and stored for the person
    assert ChatMessage.objects.filter(session=chat.session).count() == 3


def test_repeated_misunderstanding_hands_off(chat):
    for text in ("hmm", "qwerty zxcv", "blorp"):
        last = chat(text)
    assert last.reply.processing["handoff"] is True
    session = ChatSession.objects.get(pk=chat.session.pk)
    assert session.status == SessionStatus.PENDING
    assert session.state["handoffReason"] == "repeated_failure"


def test_small_talk(chat):
    assert chat("hello").reply.agent_info["primary"] == "smalltalk"
    assert chat("thank you so much").reply.intent == "thanks"


class ExplodingNlp:
    name = "nlp"

    def analyze(self, text):
        raise RuntimeError("nlp is down")


def test_a_failing_agent_degrades_the_reply_but_not_the_turn(chat, customer):
    pipeline = default_orchestrator()
    broken = Orchestrator(
        nlp=ExplodingNlp(),
        nlu=NluAgent(classifier=default_classifier()),
        banking=BankingAgent(),
        mcp=McpAgent(),
        smalltalk=SmallTalkAgent(),
    )
    turn = chat("What is my account balance?", responder=broken)
    assert turn.reply is not None and "$5,432.10" in turn.reply.content
    assert turn.reply.agent_info["failures"] == [{"agent": "nlp", "error": "RuntimeError"}]
    assert turn.reply.processing["degraded"] is True
    assert turn.reply.error_info == {"failures": [{"agent": "nlp", "error": "RuntimeError"}]}
    assert pipeline is default_orchestrator()


# MCP tools run on their own database connection, so the demo data must be committed.
@pytest.mark.django_db(transaction=True)
def test_tool_style_request_goes_through_mcp(chat):
    turn = chat("/get_balance savings", message_type="command")
    assert turn.reply.agent_info["primary"] == "mcp"
    assert "12500.00" in turn.reply.content


# --- Banking conversation: only what the user asked for, only once confirmed -----------------
def card_status(last4: str) -> str:
    return Card.objects.get(user_id="test", last4=last4).status


def pending_flows(chat) -> dict:
    context = ChatSession.objects.get(pk=chat.session.pk).conversation_context
    return {k: v for k, v in context.items() if k in {"pendingTransfer", "pendingCardAction"}}


def test_a_command_nested_too_deeply_to_read_is_answered_not_an_error(chat):
    turn = chat('/get_accounts {"a":' + "[" * 1900)

    assert "couldn't read the arguments of /get_accounts" in turn.reply.content
    assert turn.reply.agent_info["primary"] == "mcp"
    assert ChatMessage.objects.get(pk=turn.reply.pk).content == turn.reply.content


def test_a_card_the_user_names_but_does_not_have_is_not_swapped_for_another(chat):
    # One card left to block: the one the old fallback took instead of the one named.
    Card.objects.filter(user_id="test", last4="5555").update(status="blocked")

    turn = chat("block my card ending 9999")

    assert "no card ending 9999" in turn.reply.content and "changed nothing" in turn.reply.content
    assert (card_status("4242"), card_status("5555")) == ("active", "blocked")
    assert not AuditRecord.objects.filter(action__startswith="card.").exists()


@pytest.mark.parametrize(
    ("start", "pending_question", "asked_outright", "expected_status", "expected_reply"),
    [
        ("blocked", "unblock my card", "block card ending 4242", "blocked", "now blocked"),
        ("active", "block my card", "unblock card ending 4242", "active", "active again"),
    ],
)
def test_a_card_action_asked_outright_wins_over_the_one_waiting_for_a_card(
    chat, start, pending_question, asked_outright, expected_status, expected_reply
):
    Card.objects.filter(user_id="test").update(status=start)
    assert "Which card" in chat(pending_question).reply.content

    turn = chat(asked_outright)

    assert expected_reply in turn.reply.content
    assert (card_status("4242"), card_status("5555")) == (expected_status, start)
    assert pending_flows(chat) == {}


def test_a_stolen_card_interrupts_a_pending_transfer(chat):
    checking = balance("checking")
    assert "confirm" in chat("Send $20 from checking to savings").reply.content.lower()

    turn = chat("my credit card was stolen please block it now")

    assert "credit card ending 5555 is now blocked" in turn.reply.content
    assert "cancelled the transfer" in turn.reply.content
    assert (card_status("5555"), card_status("4242")) == ("blocked", "active")
    assert pending_flows(chat) == {}
    chat("yes")  # answers nothing now: the transfer was dropped
    assert Transfer.objects.count() == 0 and balance("checking") == checking


def test_yes_after_the_destination_is_asked_again_does_not_send_money(chat):
    checking = balance("checking")
    chat("Send $30 from checking to Bob Smith")
    assert "different account" in chat("to my checking account").reply.content

    turn = chat("yes")

    assert "Done" not in turn.reply.content and "receive" in turn.reply.content
    assert Transfer.objects.count() == 0 and balance("checking") == checking
    assert pending_flows(chat)["pendingTransfer"]["stage"] == "collecting"


def test_an_amount_over_the_limit_reopens_the_transfer_until_confirmed_again(chat):
    checking = balance("checking")
    chat("Send $30 from checking to savings")
    assert "need a branch" in chat("make it $20000").reply.content

    again = chat("yes")
    assert "How much" in again.reply.content
    assert again.reply.agent_info["failures"] == []  # no KeyError behind a polite answer
    assert Transfer.objects.count() == 0

    assert "$40.00" in chat("$40").reply.content
    assert "Done" in chat("yes").reply.content
    assert Transfer.objects.get().amount == Decimal("40.00")
    assert balance("checking") == checking - Decimal("40.00")


def test_a_transfer_in_another_currency_is_not_confirmed_in_dollars(chat):
    turn = chat("Send 100 EUR from checking to savings")

    assert "USD, not EUR" in turn.reply.content and "confirm" not in turn.reply.content.lower()
    assert turn.reply.metadata["quickReplies"] != ["Yes", "No"]
    pending = pending_flows(chat)["pendingTransfer"]
    assert (pending["stage"], pending["awaiting"], "amount" in pending) == (
        "collecting",
        "amount",
        False,
    )
    chat("yes")
    assert Transfer.objects.count() == 0

    assert "$100.00" in chat("100").reply.content
    chat("yes")
    transfer = Transfer.objects.get()
    assert (transfer.amount, transfer.currency) == (Decimal("100.00"), "USD")


@pytest.mark.django_db(transaction=True)  # so that a tool, were it run, would find the data
@pytest.mark.parametrize(
    "command",
    [
        "/block_card 4242",
        "/unblock_card 5555",
        '/create_transfer {"from_account_id": "{checking}", "to_account_id": "{savings}", '
        '"amount": "10"}',
    ],
)
def test_a_command_that_changes_data_is_not_run_from_the_chat(chat, command):
    Card.objects.filter(user_id="test", last4="5555").update(status="blocked")
    ids = {a.account_type: str(a.pk) for a in Account.objects.filter(user_id="test")}
    checking = balance("checking")

    turn = chat(command.replace("{checking}", ids["checking"]).replace("{savings}", ids["savings"]))

    assert (card_status("4242"), card_status("5555")) == ("active", "blocked")
    assert Transfer.objects.count() == 0 and balance("checking") == checking
    assert not AuditRecord.objects.exists()
    assert "I don't run it from a command" in turn.reply.content
    assert turn.reply.processing["result"]["readOnly"] is False
