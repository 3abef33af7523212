"""MCP servers over REST (SPEC §7); headers are write-only and never serialized back."""
from rest_framework import serializers

from core.serializers import StrictFieldsMixin
from tools.models import McpServer, Transport


def _transport_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Transport.choices,
        help_text="`streamable_http` (default), `sse`, or `stdio` (admins only, and only with "
        "PARLEY_MCP_ALLOW_STDIO=1; otherwise 403 `stdio_not_allowed`).", **kwargs)


def _env_field(**kwargs) -> serializers.DictField:
    return serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                 required=False, write_only=True, **kwargs)


class McpToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.DictField(help_text="The tool's JSON Schema, as the server reported it.")


class McpServerSerializer(serializers.ModelSerializer):
    """`command` is shown to admins only (null for everyone else, and for servers that are not stdio)."""

    shared = serializers.BooleanField(read_only=True)
    tools = McpToolSerializer(many=True, read_only=True,
                              help_text="As the server listed them at the last check.")
    command = serializers.CharField(read_only=True, allow_null=True,
                                    help_text="stdio servers only, and only for admins: the command line.")

    class Meta:
        model = McpServer
        fields = ["id", "name", "url", "transport", "command", "enabled", "shared", "status", "error", "tools",
                  "last_checked_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        staff = bool(request and request.user.is_staff)
        if instance.transport != Transport.STDIO or not staff:
            data["command"] = None
        return data


class McpServerCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=32, help_text="[a-z0-9_-]{1,32}, unique among your servers.")
    url = serializers.URLField(max_length=500, required=False, help_text="Required unless `transport` is stdio.")
    transport = _transport_field(default=Transport.STREAMABLE_HTTP)
    command = serializers.CharField(max_length=1000, required=False, trim_whitespace=False,
                                    help_text="stdio only: the command line that starts the server (split like a "
                                    "shell would, without running one).")
    env = _env_field(help_text="stdio only: extra environment variables; stored encrypted, never returned.")
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                    required=False, write_only=True,
                                    help_text="Sent with every request (e.g. Authorization); stored encrypted, "
                                    "never returned.")
    shared = serializers.BooleanField(required=False, default=False, help_text="Admins only: for every user.")


class McpServerUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=32, required=False)
    url = serializers.URLField(max_length=500, required=False)
    transport = _transport_field(required=False)
    command = serializers.CharField(max_length=1000, required=False, trim_whitespace=False,
                                    help_text="stdio only (admins).")
    env = _env_field(help_text="stdio only (admins): replaces the stored environment.")
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                    required=False, write_only=True, help_text="Replaces the stored headers.")
    enabled = serializers.BooleanField(required=False)
