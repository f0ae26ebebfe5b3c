"""Messages on their own, for finding one across sessions; read them in their session's
transcript (sessions_app.admin). Messages are records: nobody adds, edits or deletes them here."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from chatbackend.admin_search import IdFirstSearch
from messaging_app.models import ChatMessage


@admin.register(ChatMessage)
class ChatMessageAdmin(IdFirstSearch, admin.ModelAdmin):
    list_display = [
        "created_at",
        "session_link",
        "sequence_number",
        "user_id",
        "direction",
        "excerpt",
        "intent",
        "confidence_score",
        "sentiment",
    ]
    list_filter = ["direction", "message_type", "sentiment"]
    # A message, session or user id is looked up by its index alone (IdFirstSearch); other
    # words search the text.
    uuid_lookups = ("session_id", "message_id")
    search_fields = ["user_id__exact", "session__session_id__exact", "content"]
    search_help_text = (
        "A user id, session id or message id (exact), or words from the message "
        '("in quotes" for a word that is also a user id).'
    )
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        ("session_link", "sequence_number", "direction"),
        ("user_id", "created_at", "message_type"),
        "content",
        ("intent", "confidence_score", "sentiment"),
        ("processing_time_ms", "parent_message_id", "client_message_id"),
        "entities",
        "agent_info",
        "metadata",
        "processing",
        "error_info",
    ]
    readonly_fields = [
        "content",
        "session_link",
        "sequence_number",
        "direction",
        "user_id",
        "created_at",
        "message_type",
        "intent",
        "confidence_score",
        "sentiment",
        "processing_time_ms",
        "parent_message_id",
        "client_message_id",
        "entities",
        "agent_info",
        "metadata",
        "processing",
        "error_info",
    ]

    @admin.display(description="session", ordering="session_id")
    def session_link(self, message: ChatMessage) -> str:
        url = reverse("admin:sessions_app_chatsession_change", args=[message.session_id])
        return format_html('<a href="{}">{}</a>', url, str(message.session_id)[:8])

    @admin.display(description="content")
    def excerpt(self, message: ChatMessage) -> str:
        return Truncator(message.content).chars(80)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
