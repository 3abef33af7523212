"""Shapes of personal API tokens: listed by hint, shown whole only in the answer that creates them."""
from rest_framework import serializers

from accounts.models import ApiToken
from core.serializers import StrictFieldsMixin


class ApiTokenSerializer(serializers.ModelSerializer):
    hint = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "created_at", "last_used_at"]
        read_only_fields = fields

    def get_hint(self, obj) -> str:
        return "…" + obj.hint


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The token itself. Shown this once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ["id", "name", "token", "hint", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
