"""Message JSON keeps the seed's snake_case field names."""

from rest_framework import serializers

from chatbackend.schema import InputSerializer
from messaging_app.models import ChatMessage

MESSAGE_FIELDS = [
    "message_id",
    "session_id",
    "user_id",
    "direction",
    "content",
    "message_type",
    "intent",
    "entities",
    "sentiment",
    "confidence_score",
    "processing_time_ms",
    "agent_info",
    "metadata",
    "sequence_number",
    "parent_message_id",
    "created_at",
]


# Declares the message JSON for the OpenAPI schema; the JSON itself is `message_json`. (A
# comment, not a docstring: drf-spectacular would publish a docstring in openapi.yaml.)
class MessageOutput(serializers.ModelSerializer):
    session_id = serializers.UUIDField()
    client_message_id = serializers.CharField(allow_null=True)

    class Meta:
        model = ChatMessage
        fields = [*MESSAGE_FIELDS, "client_message_id"]
        read_only_fields = fields

    def to_representation(self, instance):
        # A ModelSerializer rebuilds its fields for every instance; on a chat turn and a
        # 50-message history page that was most of the serialization time (bench/results).
        return message_json(instance)


_DATETIME = serializers.DateTimeField()


def _str(value):
    return None if value is None else str(value)


def message_json(m: ChatMessage) -> dict:
    """A message as JSON: exactly what DRF made of `MessageOutput`'s fields, built directly
    (`tests/messaging_app/test_message_json.py` holds the two equal)."""
    return {
        "message_id": _str(m.message_id),
        "session_id": _str(m.session_id),
        "user_id": _str(m.user_id),
        "direction": _str(m.direction),
        "content": _str(m.content),
        "message_type": _str(m.message_type),
        "intent": _str(m.intent),
        "entities": m.entities,
        "sentiment": _str(m.sentiment),
        "confidence_score": None if m.confidence_score is None else float(m.confidence_score),
        "processing_time_ms": None if m.processing_time_ms is None else int(m.processing_time_ms),
        "agent_info": m.agent_info,
        "metadata": m.metadata,
        "sequence_number": None if m.sequence_number is None else int(m.sequence_number),
        "parent_message_id": _str(m.parent_message_id),
        "created_at": _DATETIME.to_representation(m.created_at) if m.created_at else None,
        "client_message_id": _str(m.client_message_id),
    }


class AgentSummary(serializers.Serializer):
    type = serializers.CharField()
    confidence = serializers.FloatField(allow_null=True)
    agentsInvolved = serializers.ListField(child=serializers.CharField())


class TurnOutput(serializers.Serializer):
    sessionId = serializers.UUIDField()
    message = MessageOutput()
    response = MessageOutput(allow_null=True)
    agent = AgentSummary(allow_null=True)


class SendInput(InputSerializer):
    """`message` (or the seed's `content`) is validated by the service: 1-2000 characters."""

    message = serializers.JSONField(required=False)
    content = serializers.JSONField(required=False)
    type = serializers.JSONField(required=False)
    clientMessageId = serializers.JSONField(required=False)
    # Not a UUIDField: a malformed id is a 404 like an unknown one (docs/decisions.md), as it
    # is in the path or X-Session-ID.
    sessionId = serializers.CharField(required=False, help_text="Session UUID")


def turn_json(turn) -> dict:
    """The REST and WebSocket reply body: {sessionId, message, response, agent}."""
    reply = turn.reply
    agent = None
    if reply is not None and reply.agent_info:
        agent = {
            "type": reply.agent_info.get("primary"),
            "confidence": reply.confidence_score,
            "agentsInvolved": reply.agent_info.get("agentsInvolved", []),
        }
    return {
        "sessionId": str(turn.session.pk),
        "message": message_json(turn.message),
        "response": message_json(reply) if reply is not None else None,
        "agent": agent,
    }
