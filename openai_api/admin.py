"""Gateway calls in the admin: read-only, they are a record."""
from django.contrib import admin

from openai_api.models import GatewayCall


@admin.register(GatewayCall)
class GatewayCallAdmin(admin.ModelAdmin):
    list_display = ("created_at", "owner", "model", "via", "status", "prompt_tokens", "completion_tokens", "cost",
                    "latency_ms")
    list_filter = ("status", "via", "stream")
    search_fields = ("model", "owner__username")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
