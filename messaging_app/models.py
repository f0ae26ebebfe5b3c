import uuid

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from chatbackend.db import SeedIndex
from sessions_app.models import ChatSession


class Direction(models.TextChoices):
    INCOMING = "incoming"  # from the user
    OUTGOING = "outgoing"  # from the bot or a staff member


class ChatMessage(models.Model):
    """The seed's `chat_messages` table plus what the contract needs (client ids, uniqueness)."""

    message_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The cascade lives in PostgreSQL itself, so deleting a session outside Django
    # (psql, retention jobs) removes its messages too.
    session = models.ForeignKey(
        ChatSession,
        on_delete=models.DB_CASCADE,
        db_column="session_id",
        related_name="messages",
        db_index=False,  # idx_chat_message_session (session_id, sequence_number) covers it
    )
    user_id = models.CharField(max_length=150)  # a Django username (docs/decisions.md)
    direction = models.CharField(max_length=20, choices=Direction.choices)
    content = models.TextField()
    message_type = models.CharField(max_length=50, default="text", db_default="text")
    metadata = models.JSONField(null=True, blank=True, default=dict)
    processing = models.JSONField(null=True, blank=True)
    agent_info = models.JSONField(null=True, blank=True)
    intent = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 - seed column
    entities = models.JSONField(null=True, blank=True)
    sentiment = models.CharField(max_length=50, null=True, blank=True)  # noqa: DJ001
    confidence_score = models.FloatField(null=True, blank=True)
    processing_time_ms = models.IntegerField(null=True, blank=True)
    error_info = models.JSONField(null=True, blank=True)
    parent_message_id = models.UUIDField(null=True, blank=True)
    sequence_number = models.IntegerField()
    # Beyond the seed: makes a client's resend idempotent (unique per session when given).
    client_message_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "chat_messages"
        ordering = ["sequence_number"]
        indexes = [
            SeedIndex(fields=["user_id", "created_at"], name="idx_chat_message_user"),
        ]
        constraints = [
            # The seed's idx_chat_message_session, made unique: one index both numbers a
            # session's messages without gaps or twins and pages its history (a separate
            # unique constraint over the same columns cost every insert a second index).
            models.UniqueConstraint(
                fields=["session", "sequence_number"], name="idx_chat_message_session"
            ),
            models.UniqueConstraint(
                fields=["session", "client_message_id"],
                condition=models.Q(client_message_id__isnull=False),
                name="uniq_chat_message_client_id",
            ),
            models.CheckConstraint(
                condition=models.Q(direction__in=Direction.values),
                name="chat_message_direction_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence_number} {self.direction} in {self.session_id}"
