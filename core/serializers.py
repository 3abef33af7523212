"""Serializer building blocks shared by every app's API: strict bodies and the error shape."""
from rest_framework import serializers


class StrictFieldsMixin:
    """Rejects request bodies that carry fields the serializer does not know (code "unknown_field")."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """Every API error: a readable `detail` and a stable `code`; `errors` maps fields to messages."""

    detail = serializers.CharField()
    code = serializers.CharField()
    # A field's messages are a list of strings, or, for a nested object or list (`params`, `models`), that
    # field's own errors nested the same way (found by `make fuzz`).
    errors = serializers.DictField(
        child=serializers.JSONField(), required=False,
        help_text='{field: ["message", ...]}, or for a nested object or list its own errors, nested alike.',
    )
