"""Usage rows (a read-only record) and budgets in the admin; a user's budget is edited on their user page too."""
from django.contrib import admin

from usage.models import UsageRecord, UserBudget


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "kind", "model", "status", "prompt_tokens", "completion_tokens", "cost",
                    "cost_source")
    list_filter = ("kind", "status", "cost_source", "provider")
    search_fields = ("model", "owner__username")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UserBudget)
class UserBudgetAdmin(admin.ModelAdmin):
    list_display = ("user", "monthly_budget")
    search_fields = ("user__username",)
    autocomplete_fields = ("user",)
