"""`message_json` builds message JSON without DRF's per-instance field machinery; it must be
exactly what the ModelSerializer made of the same fields, for every kind of message."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from messaging_app.api.serializers import MESSAGE_FIELDS, MessageOutput, message_json, turn_json
from messaging_app.models import ChatMessage
from messaging_app.services import ReplyDraft, message_send, message_staff_reply
from sessions_app.services import session_create

pytestmark = pytest.mark.django_db


class DrfMessageOutput(serializers.ModelSerializer):
    """MessageOutput as it was before the fast path: the reference."""

    session_id = serializers.UUIDField()
    client_message_id = serializers.CharField(allow_null=True)

    class Meta:
        model = ChatMessage
        fields = [*MESSAGE_FIELDS, "client_message_id"]
        read_only_fields = fields


def rich_responder(*, session, content, message_type):
    return ReplyDraft(
        content="Your balance is $5,432.10.",
        intent="balance_check",
        entities=[{"type": "account", "value": "checking", "span": [8, 16]}],
        sentiment="neutral",
        confidence=0.9312,
        processing_time_ms=3,
        agent_info={"primary": "banking", "agentsInvolved": ["nlp", "nlu", "banking"]},
        processing={"route": "banking"},
        metadata={"quickReplies": ["Recent transactions"], "suggestedActions": []},
    )


def quiet_responder(*, session, content, message_type):
    return ReplyDraft(content=None)


def as_json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def assert_same(message: ChatMessage) -> None:
    expected = DrfMessageOutput(message).data
    assert message_json(message) == expected
    assert list(message_json(message)) == list(expected)  # same key order on the wire
    assert as_json(message_json(message)) == as_json(expected)
    assert MessageOutput(message).data == expected


def test_message_json_equals_the_model_serializer_for_every_kind_of_message(user, staff_user):
    session = session_create(actor=user)
    turn = message_send(
        actor=user,
        session_id=session.pk,
        content="What is my balance?",
        client_message_id="c-1",
        responder=rich_responder,
    )
    quiet = message_send(
        actor=user, session_id=session.pk, content="anyone?", responder=quiet_responder
    )
    staff = message_staff_reply(actor=staff_user, session_id=session.pk, content="Hello!")

    fresh = [turn.message, turn.reply, quiet.message, staff]  # as built in memory
    stored = list(ChatMessage.objects.filter(session=session).order_by("sequence_number"))
    assert len(stored) == 4
    for message in [*fresh, *stored]:
        assert_same(message)
    assert MessageOutput(stored, many=True).data == DrfMessageOutput(stored, many=True).data


def test_turn_json_carries_message_json(user):
    session = session_create(actor=user)
    turn = message_send(actor=user, session_id=session.pk, content="hi", responder=rich_responder)
    body = turn_json(turn)
    assert body["message"] == DrfMessageOutput(turn.message).data
    assert body["response"] == DrfMessageOutput(turn.reply).data
    assert body["agent"] == {
        "type": "banking",
        "confidence": 0.9312,
        "agentsInvolved": ["nlp", "nlu", "banking"],
    }
