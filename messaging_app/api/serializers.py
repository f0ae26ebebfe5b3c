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


class MessageOutput(serializers.ModelSerializer):
    session_id = serializers.UUIDField()
    client_message_id = serializers.CharField(allow_null=True)

    class Meta:
        model = ChatMessage
        fields = [*MESSAGE_FIELDS, "client_message_id"]
        read_only_fields = fields


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
    sessionId = serializers.UUIDField(required=False)


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
        "message": MessageOutput(turn.message).data,
        "response": MessageOutput(reply).data if reply is not None else None,
        "agent": agent,
    }
