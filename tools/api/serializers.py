"""MCP servers over REST (SPEC §7); headers are write-only and never serialized back."""
from rest_framework import serializers

from core.serializers import StrictFieldsMixin
from tools.models import McpServer, Transport


class TransportField(serializers.ChoiceField):
    """streamable_http or sse; stdio is refused with its own reason (SPEC §7: admins, in the admin site only)."""

    def __init__(self, **kwargs):
        super().__init__(choices=Transport.choices, **kwargs)

    def to_internal_value(self, data):
        if data == "stdio":
            self.fail("stdio")
        return super().to_internal_value(data)

    default_error_messages = {"stdio": "stdio servers cannot be added over the API."}


class McpToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.DictField(help_text="The tool's JSON Schema, as the server reported it.")


class McpServerSerializer(serializers.ModelSerializer):
    shared = serializers.BooleanField(read_only=True)
    tools = McpToolSerializer(many=True, read_only=True,
                              help_text="As the server listed them at the last check.")

    class Meta:
        model = McpServer
        fields = ["id", "name", "url", "transport", "enabled", "shared", "status", "error", "tools",
                  "last_checked_at"]
        read_only_fields = fields


class McpServerCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=32, help_text="[a-z0-9_-]{1,32}, unique among your servers.")
    url = serializers.URLField(max_length=500)
    transport = TransportField(default=Transport.STREAMABLE_HTTP)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                    required=False, write_only=True,
                                    help_text="Sent with every request (e.g. Authorization); stored encrypted, "
                                    "never returned.")
    shared = serializers.BooleanField(required=False, default=False, help_text="Admins only: for every user.")


class McpServerUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(max_length=32, required=False)
    url = serializers.URLField(max_length=500, required=False)
    transport = TransportField(required=False)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                    required=False, write_only=True, help_text="Replaces the stored headers.")
    enabled = serializers.BooleanField(required=False)
