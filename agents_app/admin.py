"""Bank data, read-only. Every banking change goes through agents_app.services, which writes
the audit record in the same transaction; an edit here would skip it, so there are none."""

from django.contrib import admin

from agents_app.models import Account, AuditRecord, BankTransaction, Card, Transfer


class ReadOnlyAdmin(admin.ModelAdmin):
    list_per_page = 100
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "user_id", "account_type", "number_last4", "balance", "currency"]
    list_filter = ["account_type", "currency"]
    search_fields = ["user_id__exact", "number_last4__exact"]


@admin.register(Card)
class CardAdmin(ReadOnlyAdmin):
    list_display = ["last4", "user_id", "card_type", "status", "expires", "updated_at"]
    list_filter = ["card_type", "status"]
    search_fields = ["user_id__exact", "last4__exact"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user_id", "amount", "currency", "payee", "reference"]
    search_fields = ["user_id__exact", "payee"]
    date_hierarchy = "created_at"


@admin.register(BankTransaction)
class BankTransactionAdmin(ReadOnlyAdmin):
    list_display = ["booked_at", "account", "amount", "currency", "description", "category"]
    list_filter = ["category"]
    list_select_related = ["account"]
    search_fields = ["account__user_id__exact", "description", "counterparty"]
    date_hierarchy = "booked_at"


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor", "user_id", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["user_id__exact", "actor__exact", "object_id__exact"]
    date_hierarchy = "created_at"
