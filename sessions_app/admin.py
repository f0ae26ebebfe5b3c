"""What support staff see: sessions with their transcript, and what a person does about them.

The admin never writes a session or a message itself: reply, resolve, end and hand back call
the same services as the API, so the state machine, the row lock and the live WebSocket
fan-out hold exactly as they do there. The admin adds who did what to Django's admin history.
Permissions are those of the "support" group (sessions_app/management/support.py).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied as AccessDenied
from django.db import DatabaseError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from chatbackend.admin_search import IdFirstSearch
from chatbackend.errors import ServiceError
from messaging_app.models import ChatMessage, Direction
from messaging_app.services import message_staff_reply
from sessions_app.management.support import session_permission
from sessions_app.models import ChatSession, SessionStatus
from sessions_app.services import session_end, session_hand_back, session_resolve

# A page of the changelist is 50; a bulk action runs in one request (see _too_many).
BULK_ACTION_MAX_SESSIONS = 200
# A session's page shows its latest messages: at the message rate a scripted session gains
# ~170k rows a day, which no page renders. All of them are in the messages list.
TRANSCRIPT_MAX_MESSAGES = 200


class ReplyForm(forms.Form):
    content = forms.CharField(
        label="Reply to the user",
        max_length=settings.CHAT_MESSAGE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
    )


class ResolveForm(forms.Form):
    notes = forms.CharField(
        label="Resolution notes",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
    )


class EndForm(forms.Form):
    reason = forms.CharField(label="Reason", required=False, max_length=255)


class HandBackForm(forms.Form):
    pass


def sender(message: ChatMessage) -> str:
    """Who wrote a message, as support staff need to read it."""
    info = message.agent_info or {}
    if message.direction == Direction.INCOMING:
        return f"user {message.user_id}"
    if info.get("primary") == "human":
        return f"staff {info.get('staff', '?')}"
    return f"bot ({info.get('primary') or 'assistant'})"


class TranscriptInline(admin.TabularInline):
    """The conversation in sequence order, read-only: messages are records, never edited."""

    model = ChatMessage
    template = "admin/sessions_app/chatsession/transcript_inline.html"
    verbose_name = "message"
    verbose_name_plural = "Transcript"
    fields = [
        "sequence_number",
        "created_at",
        "who",
        "content",
        "intent",
        "confidence",
        "sentiment",
    ]
    readonly_fields = fields
    ordering = ["sequence_number"]
    extra = 0
    can_delete = False
    show_change_link = False

    @admin.display(description="from")
    def who(self, message: ChatMessage) -> str:
        return sender(message)

    @admin.display(description="confidence")
    def confidence(self, message: ChatMessage) -> str:
        score = message.confidence_score
        return "" if score is None else f"{score:.2f}"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HandoffFilter(admin.SimpleListFilter):
    title = "hand-off"
    parameter_name = "handoff"

    def lookups(self, request, model_admin):
        return [("pending", "Waiting for a person"), ("bot", "With the bot or closed")]

    def queryset(self, request, queryset):
        if self.value() == "pending":
            return queryset.filter(status=SessionStatus.PENDING)
        if self.value() == "bot":
            return queryset.exclude(status=SessionStatus.PENDING)
        return queryset


@dataclass(frozen=True)
class SessionAction:
    """One thing a person does to a session from its page."""

    name: str  # URL part, form id, admin URL name
    permission: str  # checked with ChatSessionAdmin.has_<permission>_permission
    form: type[forms.Form]
    run: Callable[..., ChatSession]  # (actor, session_id, cleaned_data) -> the changed session
    done: str  # shown to the person and written to the admin history
    button: str


@admin.register(ChatSession)
class ChatSessionAdmin(IdFirstSearch, admin.ModelAdmin):
    list_display = [
        "short_id",
        "user_id",
        "status",
        "is_active",
        "is_resolved",
        "message_count",
        "last_activity",
        "created_at",
    ]
    list_display_links = ["short_id"]
    list_filter = ["status", "is_resolved", "is_active", HandoffFilter]
    # A session id or a user id is looked up by its index alone (IdFirstSearch); other words
    # search the transcript text.
    uuid_lookups = ("session_id",)
    search_fields = ["user_id__exact", "session_id__exact", "messages__content"]
    search_help_text = (
        'A user id or session id (exact), or words from the conversation ("in quotes" for a '
        "word that is also a user id)."
    )
    date_hierarchy = "created_at"
    ordering = ["-last_activity"]
    list_per_page = 50
    show_full_result_count = False  # a COUNT(*) over every session on each page view is waste
    inlines = [TranscriptInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("session_id", "user_id"),
                    ("status", "is_active", "is_resolved", "handoff_reason"),
                    ("created_at", "last_activity", "expires_at"),
                    ("message_count", "ended_at", "ended_reason"),
                    "resolution_notes",
                ]
            },
        ),
        (
            "Context",
            {
                "classes": ["collapse"],
                "fields": ["metadata", "conversation_context", "state"],
            },
        ),
    ]
    readonly_fields = [
        "session_id",
        "user_id",
        "status",
        "is_active",
        "is_resolved",
        "handoff_reason",
        "created_at",
        "last_activity",
        "expires_at",
        "message_count",
        "ended_at",
        "ended_reason",
        "resolution_notes",
        "metadata",
        "conversation_context",
        "state",
    ]
    actions = ["resolve_selected", "end_selected", "hand_back_selected"]

    # --- list -----------------------------------------------------------------------------
    @admin.display(description="session", ordering="session_id")
    def short_id(self, session: ChatSession) -> str:
        return str(session.session_id)[:8]

    @admin.display(description="hand-off reason")
    def handoff_reason(self, session: ChatSession) -> str:
        return (session.state or {}).get("handoffReason", "")

    # --- permissions: nobody edits rows here; what a person may do is a permission each ------
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Superusers too: sessions go only by the retention command (purge_sessions).
        return False

    def has_reply_permission(self, request) -> bool:
        return request.user.has_perm(session_permission("reply_chatsession"))

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm(session_permission("resolve_chatsession"))

    def has_end_permission(self, request) -> bool:
        return request.user.has_perm(session_permission("end_chatsession"))

    def has_handback_permission(self, request) -> bool:
        return request.user.has_perm(session_permission("handback_chatsession"))

    # --- the session page: transcript plus reply / resolve / end / hand back ------------------
    def session_actions(self) -> list[SessionAction]:
        return [
            SessionAction(
                name="reply",
                permission="reply",
                form=ReplyForm,
                run=lambda actor, session_id, data: (
                    message_staff_reply(
                        actor=actor, session_id=session_id, content=data["content"]
                    ).session
                ),
                done="Replied to the user.",
                button="Send reply",
            ),
            SessionAction(
                name="resolve",
                permission="resolve",
                form=ResolveForm,
                run=lambda actor, session_id, data: session_resolve(
                    actor=actor, session_id=session_id, notes=data["notes"]
                ),
                done="Resolved the session.",
                button="Resolve",
            ),
            SessionAction(
                name="end",
                permission="end",
                form=EndForm,
                run=lambda actor, session_id, data: session_end(
                    actor=actor,
                    session_id=session_id,
                    reason=data["reason"] or f"ended by support ({actor.get_username()})",
                ),
                done="Ended the session.",
                button="End session",
            ),
            SessionAction(
                name="hand_back",
                permission="handback",
                form=HandBackForm,
                run=lambda actor, session_id, data: session_hand_back(
                    actor=actor, session_id=session_id
                ),
                done="Handed the session back to the bot.",
                button="Hand back to the bot",
            ),
        ]

    def allowed(self, request, action: SessionAction) -> bool:
        return getattr(self, f"has_{action.permission}_permission")(request)

    def get_urls(self):
        urls = [
            path(
                f"<path:object_id>/{action.name.replace('_', '-')}/",
                self.admin_site.admin_view(require_POST(self._action_view(action))),
                name=f"sessions_app_chatsession_{action.name}",
            )
            for action in self.session_actions()
        ]
        return urls + super().get_urls()

    def _action_view(self, action: SessionAction):
        def view(request, object_id):
            if not self.allowed(request, action):
                raise AccessDenied
            back = HttpResponseRedirect(
                reverse("admin:sessions_app_chatsession_change", args=[object_id])
            )
            form = action.form(request.POST)
            if not form.is_valid():
                errors = [e for field_errors in form.errors.values() for e in field_errors]
                self.message_user(request, " ".join(errors), messages.ERROR)
                return back
            try:
                session = action.run(request.user, unquote(object_id), form.cleaned_data)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return back
            except DatabaseError:
                # Nothing was stored (the service is one transaction); the person can retry.
                self.message_user(
                    request, "The database is unavailable; nothing was changed.", messages.ERROR
                )
                return back
            self.log_change(request, session, action.done)
            self.message_user(request, action.done, messages.SUCCESS)
            return back

        view.__name__ = f"chatsession_{action.name}"
        return view

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, TranscriptInline) and obj is not None:
            # Sequence numbers run 1..message_count without gaps: the newest, by their index.
            newest = obj.message_count - TRANSCRIPT_MAX_MESSAGES
            kwargs["queryset"] = kwargs["queryset"].filter(sequence_number__gt=newest)
        return kwargs

    def change_view(self, request, object_id, form_url="", extra_context=None):
        session = self.get_object(request, unquote(object_id))
        panel = []
        if session is not None and not session.is_closed:
            for action in self.session_actions():
                if action.name == "hand_back" and session.status != SessionStatus.PENDING:
                    continue
                if self.allowed(request, action):
                    url = reverse(f"admin:sessions_app_chatsession_{action.name}", args=[object_id])
                    panel.append({"action": action, "url": url, "form": action.form()})
        extra_context = {**(extra_context or {}), "support_panel": panel}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- bulk actions on the list -----------------------------------------------------------
    def _bulk(self, request, queryset, run: Callable, log_line: str, done: str) -> None:
        changed, refused = 0, []
        for session_id in queryset.values_list("pk", flat=True):
            try:
                session = run(session_id)
            except ServiceError as exc:
                refused.append(f"{str(session_id)[:8]}: {exc.message}")
                continue
            except DatabaseError:
                # Each session is its own transaction: say exactly how far it got, not a 500.
                self.message_user(
                    request,
                    f"{done} {changed} session(s), then the database stopped answering; "
                    "the others are unchanged. Try again in a moment.",
                    messages.ERROR,
                )
                return
            self.log_change(request, session, log_line)
            changed += 1
        self.message_user(request, f"{done} {changed} session(s).", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"Left {len(refused)} unchanged: " + "; ".join(refused), messages.WARNING
            )

    def _too_many(self, request, queryset) -> bool:
        """Bulk actions change each session in its own transaction within one request: past a
        page's worth, the request outlives a proxy's timeout (and the confirmation page posts
        one field per session, against Django's DATA_UPLOAD_MAX_NUMBER_FIELDS)."""
        if queryset.count() <= BULK_ACTION_MAX_SESSIONS:
            return False
        self.message_user(
            request,
            f"Select at most {BULK_ACTION_MAX_SESSIONS} sessions at a time; nothing was changed.",
            messages.ERROR,
        )
        return True

    def _confirmation(self, request, queryset, *, action: str, form_class, title: str, question):
        """(the confirmed form, None), or (None, the page asking to confirm): like Django's own
        delete confirmation, a closing action is taken only from a second, explicit post."""
        form = form_class(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_valid():
            return form, None
        page = TemplateResponse(
            request,
            "admin/sessions_app/chatsession/confirm_selected.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "question": question,
                "action": action,
                "opts": self.opts,
                "form": form if form.is_bound else form_class(),
                "sessions": queryset,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )
        return None, page

    @admin.action(description="Resolve selected sessions (with notes)…", permissions=["resolve"])
    def resolve_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        form, page = self._confirmation(
            request,
            queryset,
            action="resolve_selected",
            form_class=ResolveForm,
            title="Resolve sessions",
            question="Resolve these sessions? Resolved sessions are closed for good: users "
            "cannot resume them.",
        )
        if page is not None:
            return page
        notes = form.cleaned_data["notes"]
        self._bulk(
            request,
            queryset,
            lambda session_id: session_resolve(
                actor=request.user, session_id=session_id, notes=notes
            ),
            "Resolved the session.",
            "Resolved",
        )
        return None

    @admin.action(description="End selected sessions…", permissions=["end"])
    def end_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        form, page = self._confirmation(
            request,
            queryset,
            action="end_selected",
            form_class=EndForm,
            title="End sessions",
            question="End these sessions? Ended sessions are closed for good: users cannot "
            "resume them.",
        )
        if page is not None:
            return page
        reason = form.cleaned_data["reason"] or f"ended by support ({request.user.get_username()})"
        self._bulk(
            request,
            queryset,
            lambda session_id: session_end(
                actor=request.user, session_id=session_id, reason=reason
            ),
            "Ended the session.",
            "Ended",
        )
        return None

    @admin.action(description="Hand selected sessions back to the bot", permissions=["handback"])
    def hand_back_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return
        self._bulk(
            request,
            queryset,
            lambda session_id: session_hand_back(actor=request.user, session_id=session_id),
            "Handed the session back to the bot.",
            "Handed back",
        )
