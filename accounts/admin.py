"""Admin for users and their personal API tokens; a token created here is shown once, in a message."""
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken
from accounts.services import api_token_create, users_approve

User = get_user_model()


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ["name", "hint", "created_at", "last_used_at"]
    readonly_fields = fields
    can_delete = True  # deleting a row revokes the token
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # tokens are created from the token admin, which can show the new token once


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "shown_hint", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "name"]
    readonly_fields = ["shown_hint", "created_at", "last_used_at"]
    autocomplete_fields = ["user"]

    @admin.display(description="token")
    def shown_hint(self, obj):
        return f"…{obj.hint}" if obj.hint else "—"

    def get_fields(self, request, obj=None):
        return ["user", "name"] if obj is None else ["user", "name", "shown_hint", "created_at", "last_used_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "shown_hint", "created_at", "last_used_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        token, raw = api_token_create(user=obj.user, name=obj.name)
        obj.pk, obj.digest, obj.hint, obj.created_at = token.pk, token.digest, token.hint, token.created_at
        obj._state.adding = False
        messages.warning(request, f"New API token for {obj.user}: {raw} — copy it now, it is not shown again.")


admin.site.unregister(User)


@admin.register(User)
class ParleyUserAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ApiTokenInline]
    actions = ["approve"]

    @admin.action(description="Approve the selected accounts (they may sign in)", permissions=["change"])
    def approve(self, request, queryset):
        approved = users_approve(users=queryset)
        messages.success(request, f"Approved {approved} account(s).")
