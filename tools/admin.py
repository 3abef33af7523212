"""Admin for MCP servers: headers go in through a write-only field (JSON), only their names come out."""
import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from tools import services
from tools.models import McpServer


class McpServerForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    headers = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text='A JSON object, e.g. {"Authorization": "Bearer …"}; stored encrypted. Leave empty to keep the '
        "stored ones; {} removes them.",
    )

    class Meta:
        model = McpServer
        fields = ["owner", "name", "url", "transport", "enabled"]

    def clean_headers(self):
        raw = self.cleaned_data.get("headers", "").strip()
        if not raw:
            return None
        try:
            return services.check_headers(json.loads(raw))
        except (ValueError, ValidationError):
            raise forms.ValidationError("Enter a JSON object of header names and one-line values.") from None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("url"):
            try:
                services.check_url(cleaned["url"], owner=cleaned.get("owner"))
            except ValidationError as exc:
                self.add_error("url", exc.messages[0])
        return cleaned

    def save(self, commit=True):
        server = super().save(commit=False)
        if self.cleaned_data.get("headers") is not None:
            server.set_headers(self.cleaned_data["headers"])
        if commit:
            server.save()
        return server


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ["name", "owner", "url", "transport", "enabled", "status", "last_checked_at"]
    list_filter = ["transport", "enabled", "status"]
    search_fields = ["name", "url", "owner__username"]
    readonly_fields = ["status", "error", "tool_names", "last_checked_at", "created_at"]
    actions = ["refresh"]

    @admin.display(description="Tools")
    def tool_names(self, obj) -> str:
        return ", ".join(tool["name"] for tool in obj.tools) or "—"

    @admin.action(description="Check the selected servers now")
    def refresh(self, request, queryset):
        for server in queryset:
            services.mcp_server_refresh(server=server)
        self.message_user(request, f"Checked {queryset.count()} server(s).")
