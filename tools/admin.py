"""Admin for MCP servers: headers (and a stdio server's env) go in through write-only JSON fields, never come out.

stdio servers (a command line) can be added here only when PARLEY_MCP_ALLOW_STDIO is on."""
import json
import shlex

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError

from tools import services
from tools.models import McpServer, Transport


class McpServerForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https", required=False, help_text="Empty for a stdio server.")
    headers = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text='A JSON object, e.g. {"Authorization": "Bearer …"}; stored encrypted. Leave empty to keep the '
        "stored ones; {} removes them.",
    )
    env = forms.CharField(
        label="Environment", required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text='stdio only: a JSON object of extra variables, e.g. {"API_TOKEN": "…"}; stored encrypted. Leave '
        "empty to keep the stored ones; {} removes them.",
    )

    class Meta:
        model = McpServer
        fields = ["owner", "name", "transport", "url", "command", "enabled"]

    def clean_headers(self):
        raw = self.cleaned_data.get("headers", "").strip()
        if not raw:
            return None
        try:
            return services.check_headers(json.loads(raw))
        except (ValueError, ValidationError):
            raise forms.ValidationError("Enter a JSON object of header names and one-line values.") from None

    def clean_env(self):
        raw = self.cleaned_data.get("env", "").strip()
        if not raw:
            return None
        try:
            return services.check_env(json.loads(raw))
        except (ValueError, ValidationError):
            raise forms.ValidationError("Enter a JSON object of variable names and text values.") from None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("transport") == Transport.STDIO:
            self._clean_stdio(cleaned)
        elif not cleaned.get("url"):
            self.add_error("url", "A streamable HTTP or SSE server needs its URL.")
        else:
            try:
                services.check_url(cleaned["url"], owner=cleaned.get("owner"))
            except ValidationError as exc:
                self.add_error("url", exc.messages[0])
        return cleaned

    def _clean_stdio(self, cleaned):
        changed = not self.instance.pk or self.instance.transport != Transport.STDIO or \
            {"command", "env"} & set(self.changed_data)
        if changed and not settings.PARLEY_MCP_ALLOW_STDIO:
            self.add_error("transport", services.STDIO_DISABLED + " Set PARLEY_MCP_ALLOW_STDIO=1 to add one.")
        owner = cleaned.get("owner")
        if owner is not None and not owner.is_staff:
            self.add_error("owner", "A stdio server is shared or an admin's own.")
        try:
            cleaned["command"] = shlex.join(services.parse_command(cleaned.get("command", "")))
        except ValidationError as exc:
            self.add_error("command", exc.messages[0])
        cleaned["url"] = ""

    def save(self, commit=True):
        server = super().save(commit=False)
        stdio = server.transport == Transport.STDIO
        if stdio:
            server.set_headers({})
        elif self.cleaned_data.get("headers") is not None:
            server.set_headers(self.cleaned_data["headers"])
        if not stdio:
            server.command = ""
            server.set_env({})
        elif self.cleaned_data.get("env") is not None:
            server.set_env(self.cleaned_data["env"])
        if commit:
            server.save()
        return server


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ["name", "owner", "where", "transport", "enabled", "status", "last_checked_at"]
    list_filter = ["transport", "enabled", "status"]
    search_fields = ["name", "url", "owner__username"]
    readonly_fields = ["status", "error", "tool_names", "last_checked_at", "created_at"]
    actions = ["refresh"]

    @admin.display(description="URL or command")
    def where(self, obj) -> str:
        return obj.command if obj.transport == Transport.STDIO else obj.url

    @admin.display(description="Tools")
    def tool_names(self, obj) -> str:
        return ", ".join(tool["name"] for tool in obj.tools) or "—"

    @admin.action(description="Check the selected servers now")
    def refresh(self, request, queryset):
        for server in queryset:
            services.mcp_server_refresh(server=server)
        self.message_user(request, f"Checked {queryset.count()} server(s).")
