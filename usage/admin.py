"""Usage rows (a read-only record) and budgets in the admin; a user's budget is edited on their user page too."""
from django.contrib import admin
from django.contrib.auth import get_user_model

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


class UserBudgetInline(admin.StackedInline):
    model = UserBudget
    can_delete = False
    verbose_name_plural = "Monthly budget"


def _budget_on_the_user_page() -> None:
    """The budget is edited on each user's admin page too (accounts registers that page; it cannot import us)."""
    user_admin = admin.site.get_model_admin(get_user_model())
    if UserBudgetInline not in user_admin.inlines:
        user_admin.inlines = [*user_admin.inlines, UserBudgetInline]


_budget_on_the_user_page()
