"""Admin for merge jobs with their provenance (which conversations and messages each result came from)."""
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from merging.models import MergeHistory, MergeJob


def _link(obj, label=None):
    if obj is None:
        return "—"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


class MergeHistoryInline(admin.TabularInline):
    model = MergeHistory
    fk_name = "job"
    extra = 0
    can_delete = False
    fields = ["result", "source_conversation_link", "source_message_link", "created_at"]
    readonly_fields = fields
    verbose_name = "provenance row"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="result")
    def result(self, row):
        return _link(row.result_message) if row.result_message_id else _link(row.result_conversation)

    @admin.display(description="source conversation")
    def source_conversation_link(self, row):
        return _link(row.source_conversation)

    @admin.display(description="source message")
    def source_message_link(self, row):
        return _link(row.source_message)


@admin.register(MergeJob)
class MergeJobAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "kind", "model", "status", "progress", "attempts", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["owner"]
    search_fields = ["id", "owner__username", "model"]
    readonly_fields = [
        "id", "owner", "kind", "model", "instructions", "source_ids", "request_digest", "status", "progress",
        "stage", "result_conversation_link", "result_message_link", "error_code", "error", "raw_output",
        "attempts", "output_round", "created_at", "started_at", "finished_at",
    ]
    fields = readonly_fields
    inlines = [MergeHistoryInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description="result conversation")
    def result_conversation_link(self, job):
        return _link(job.result_conversation)

    @admin.display(description="result message")
    def result_message_link(self, job):
        return _link(job.result_message)
