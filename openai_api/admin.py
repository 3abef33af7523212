"""Gateway calls in the admin: read-only, they are a record (the usage rows of kind "gateway")."""
from django.contrib import admin

from openai_api.models import GatewayCall
from usage.admin import UsageRecordAdmin


@admin.register(GatewayCall)
class GatewayCallAdmin(UsageRecordAdmin):
    list_display = ("created_at", "owner", "model", "via", "status", "prompt_tokens", "completion_tokens", "cost",
                    "latency_ms")
    list_filter = ("status", "via", "stream")
