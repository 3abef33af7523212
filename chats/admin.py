"""Admin for conversations with their messages, presets, and (read-only) generations."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join

from chats.models import Conversation, Generation, Message, Preset


class MessageInline(admin.StackedInline):
    model = Message
    fk_name = "conversation"
    extra = 0
    fields = [
        ("role", "status", "model", "selected"),
        "content",
        "reasoning",
        ("error_code", "error"),
        ("finish_reason", "latency_ms", "ttft_ms", "cost"),
        "usage",
        "created_at",
    ]
    readonly_fields = ["created_at"]
    ordering = ["created_at", "id"]
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "default_model", "message_total", "updated_at", "created_at"]
    list_select_related = ["owner"]
    list_filter = ["created_at"]
    search_fields = ["title", "owner__username", "id"]
    readonly_fields = ["id", "created_at", "updated_at", "merged_sources"]
    fields = ["id", "owner", "title", "system_prompt", "default_model", "params", "merged_sources",
              "created_at", "updated_at"]
    autocomplete_fields = ["owner"]
    inlines = [MessageInline]

    @admin.display(description="messages")
    def message_total(self, obj):
        return obj.messages.count()

    @admin.display(description="merged from")
    def merged_sources(self, obj):
        # Links to each source conversation; the merge job with per-message provenance is under Merging.
        sources = [(reverse("admin:chats_conversation_change", args=[s.pk]), str(s)) for s in obj.merged_from.all()]
        return format_html_join(", ", '<a href="{}">{}</a>', sources) or "—"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "role", "model", "status", "created_at"]
    list_filter = ["role", "status"]
    search_fields = ["content", "conversation__title"]
    raw_id_fields = ["conversation", "reply_to"]
    readonly_fields = ["id", "created_at", "updated_at"]


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "model", "updated_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "model"]
    autocomplete_fields = ["owner"]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "model", "status", "ttft_ms", "latency_ms", "created_at"]
    list_filter = ["status"]
    search_fields = ["id", "model", "owner__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
