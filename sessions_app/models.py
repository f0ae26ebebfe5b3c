import uuid

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from chatbackend.db import SeedIndex


class SessionStatus(models.TextChoices):
    ACTIVE = "active"
    PENDING = "pending"  # waiting for a person (hand-off); the bot stays quiet
    RESOLVED = "resolved"
    EXPIRED = "expired"
    TERMINATED = "terminated"


# Sessions in these states are finished: they cannot be resumed or written to.
CLOSED_STATUSES = frozenset({SessionStatus.RESOLVED, SessionStatus.TERMINATED})


class ChatSession(models.Model):
    """The seed's `chat_sessions` table, column for column; defaults live in the database too."""

    session_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # 150, not the seed's 100: it holds a Django username, which may be 150 characters
    # (docs/decisions.md).
    user_id = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True, db_default=True)
    is_resolved = models.BooleanField(default=False, db_default=False)
    status = models.CharField(
        max_length=50,
        choices=SessionStatus.choices,
        default=SessionStatus.ACTIVE,
        db_default=SessionStatus.ACTIVE,
    )
    last_activity = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    message_count = models.IntegerField(default=0, db_default=0)
    metadata = models.JSONField(null=True, blank=True, default=dict)
    conversation_context = models.JSONField(null=True, blank=True, default=dict)
    state = models.JSONField(null=True, blank=True, default=dict)
    statistics = models.JSONField(null=True, blank=True, default=dict)
    security = models.JSONField(null=True, blank=True, default=dict)
    resolution_notes = models.TextField(null=True, blank=True)  # noqa: DJ001 - seed column is nullable
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_reason = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        db_table = "chat_sessions"
        ordering = ["-last_activity"]
        indexes = [
            SeedIndex(fields=["user_id", "is_active"], name="idx_chat_session_user_active"),
            SeedIndex(
                fields=["user_id", "is_resolved", "is_active"],
                name="idx_chat_session_user_unresolved",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=SessionStatus.values),
                name="chat_session_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} ({self.user_id}, {self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def is_idle_past_ttl(self, now=None) -> bool:
        """True for an active session whose `expires_at` has passed but is not yet marked."""
        now = now or timezone.now()
        return (
            self.status == SessionStatus.ACTIVE
            and self.expires_at is not None
            and self.expires_at <= now
        )
