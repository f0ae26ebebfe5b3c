"""Session JSON uses the seed's camelCase names."""

from rest_framework import serializers

from chatbackend.schema import InputSerializer
from messaging_app.api.serializers import MessageOutput
from sessions_app.models import SessionStatus
from sessions_app.selectors import SESSION_LIST_KINDS


class SessionOutput(serializers.Serializer):
    sessionId = serializers.UUIDField(source="session_id")
    userId = serializers.CharField(source="user_id")
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    isActive = serializers.BooleanField(source="is_active")
    isResolved = serializers.BooleanField(source="is_resolved")
    lastActivity = serializers.DateTimeField(source="last_activity")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    messageCount = serializers.IntegerField(source="message_count")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True)
    endedReason = serializers.CharField(source="ended_reason", allow_null=True)
    resolutionNotes = serializers.CharField(source="resolution_notes", allow_null=True)
    metadata = serializers.JSONField(allow_null=True)
    conversationContext = serializers.JSONField(source="conversation_context", allow_null=True)


class SessionWithMessagesOutput(SessionOutput):
    recentMessages = MessageOutput(many=True, source="recent_messages")


class SessionCreateInput(InputSerializer):
    userId = serializers.CharField(required=False, max_length=150)  # a Django username
    metadata = serializers.DictField(required=False)


class SessionEndInput(InputSerializer):
    reason = serializers.CharField(required=False, max_length=255, allow_blank=True)


class SessionResolveInput(InputSerializer):
    notes = serializers.CharField(required=False, max_length=5000, allow_blank=True)


class HistoryQuery(InputSerializer):
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)
    offset = serializers.IntegerField(required=False, default=0, min_value=0)
    afterSeq = serializers.IntegerField(required=False, min_value=0)


class SessionListQuery(InputSerializer):
    type = serializers.ChoiceField(choices=SESSION_LIST_KINDS, required=False, default="active")
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)


class HistoryOutput(serializers.Serializer):
    sessionId = serializers.UUIDField()
    messages = MessageOutput(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    hasMore = serializers.BooleanField()


class ResumeOutput(serializers.Serializer):
    success = serializers.BooleanField()
    sessionId = serializers.UUIDField()
    session = SessionOutput()
    history = MessageOutput(many=True)
    message = serializers.CharField()


class SessionListOutput(serializers.Serializer):
    userId = serializers.CharField()
    type = serializers.ChoiceField(choices=SESSION_LIST_KINDS)
    count = serializers.IntegerField()
    sessions = SessionWithMessagesOutput(many=True)
