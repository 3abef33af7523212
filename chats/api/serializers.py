"""Request and response shapes of conversations, messages and presets."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from chats.models import Conversation, Message, Preset
from chats.validation import (
    AttachmentIdsField,
    ConversationParamsSerializer,
    ParamsSerializer,
    validate_message_content,
    validate_model_name,
    validate_system_prompt,
    validate_title,
    validate_tool_specs,
)
from core.serializers import StrictFieldsMixin
from uploads.api.serializers import AttachmentSerializer

MODEL_NAME_MAX = Message._meta.get_field("model").max_length  # the columns that store model names


class _UserScopedMixin:
    """Model names are checked against the providers the requesting user can reach."""

    def _user_id(self):
        request = self.context.get("request")
        return request.user.pk if request is not None and request.user.is_authenticated else None

    def _model(self, value: str) -> str:
        return validate_model_name(value, user_id=self._user_id()) if value.strip() else ""


# --- conversations ---------------------------------------------------------------------------


class ConversationSerializer(serializers.ModelSerializer):
    message_count = serializers.SerializerMethodField()
    merged_from = serializers.SerializerMethodField()
    params = serializers.DictField(help_text="temperature, max_tokens, top_p, reasoning_effort, thinking_budget, "
                                             "tools, tool_approval")

    class Meta:
        model = Conversation
        fields = [
            "id", "title", "system_prompt", "default_model", "params",
            "message_count", "created_at", "updated_at", "merged_from",
        ]
        read_only_fields = fields

    def get_message_count(self, obj) -> int:
        count = getattr(obj, "message_count", None)
        return obj.messages.count() if count is None else count

    def get_merged_from(self, obj) -> list[str]:
        """Ids of the conversations this one was merged from."""
        return [str(source.pk) for source in obj.merged_from.all()]


class ConversationTotalsSerializer(serializers.Serializer):
    cost = serializers.FloatField(help_text="USD.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    replies = serializers.IntegerField()


class ConversationDetailSerializer(ConversationSerializer):
    """A conversation's detail adds its usage totals (SPEC §10), which the list leaves out (one query each)."""

    totals = serializers.SerializerMethodField()

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "totals"]
        read_only_fields = fields

    @extend_schema_field(ConversationTotalsSerializer)
    def get_totals(self, obj) -> dict:
        from usage.selectors import conversation_totals

        return conversation_totals(conversation_id=obj.pk)


class ConversationWriteSerializer(StrictFieldsMixin, _UserScopedMixin, serializers.Serializer):
    title = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    default_model = serializers.CharField(required=False, allow_blank=True, max_length=MODEL_NAME_MAX)
    params = ConversationParamsSerializer(required=False)

    def validate_title(self, value):
        return validate_title(value)

    def validate_system_prompt(self, value):
        return validate_system_prompt(value)

    def validate_default_model(self, value):
        return self._model(value)

    def validate_params(self, value):
        value = dict(value)
        if value.get("tools"):
            validate_tool_specs(value["tools"], user=self.context["request"].user)
        return value


# --- messages --------------------------------------------------------------------------------


class MessageSerializer(serializers.ModelSerializer):
    conversation_id = serializers.UUIDField(read_only=True)
    reply_to = serializers.UUIDField(source="reply_to_id", read_only=True, allow_null=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=8, coerce_to_string=False, read_only=True,
                                    allow_null=True)
    usage = serializers.DictField(read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    metadata = serializers.DictField(read_only=True)
    parent_id = serializers.UUIDField(read_only=True, allow_null=True,
                                      help_text="The message this one follows (null for a first message).")
    sibling_index = serializers.SerializerMethodField(help_text="Its place among its siblings, from 0.")
    sibling_count = serializers.SerializerMethodField(help_text="How many messages share its parent (itself too).")

    class Meta:
        model = Message
        fields = [
            "id", "conversation_id", "role", "content", "reasoning", "model", "status", "error", "error_code",
            "finish_reason", "usage", "cost", "latency_ms", "ttft_ms", "attachments", "metadata", "reply_to",
            "parent_id", "selected", "sibling_index", "sibling_count", "created_at",
        ]
        read_only_fields = fields

    def _siblings(self, obj) -> tuple[int, int]:
        """From the `siblings` map a list view passes (chats.tree.sibling_info), else read for this message."""
        known = self.context.get("siblings")
        if known is not None and obj.pk in known:
            return known[obj.pk]
        siblings = list(Message.objects.filter(conversation_id=obj.conversation_id, parent_id=obj.parent_id)
                        .order_by("created_at", "id").values_list("pk", flat=True))
        return (siblings.index(obj.pk) if obj.pk in siblings else 0), max(len(siblings), 1)

    def get_sibling_index(self, obj) -> int:
        return self._siblings(obj)[0]

    def get_sibling_count(self, obj) -> int:
        return self._siblings(obj)[1]


class MessageCreateSerializer(StrictFieldsMixin, _UserScopedMixin, serializers.Serializer):
    content = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="The user's message."
    )
    message = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="Same as `content` (seed-000 clients)."
    )
    model = serializers.CharField(
        required=False, allow_blank=True, max_length=MODEL_NAME_MAX,
        help_text="Per-message model override, `provider/model-id`.",
    )
    attachments = AttachmentIdsField()
    parent_id = serializers.UUIDField(
        required=False, allow_null=True,
        help_text="Edit: the new message goes under this message of the conversation (null: a new first "
                  "message) and is selected. Default: it follows the current branch.",
    )

    def validate_model(self, value):
        return self._model(value)

    def validate(self, attrs):
        if "content" in attrs and "message" in attrs:
            raise serializers.ValidationError("Give `content` or `message`, not both.", code="ambiguous")
        if "content" not in attrs and "message" not in attrs:
            raise serializers.ValidationError({"content": ["This field is required."]}, code="required")
        field = "content" if "content" in attrs else "message"
        text = attrs.pop(field)
        try:
            attrs["content"] = validate_message_content(text)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({field: exc.detail})
        return attrs


# --- presets ---------------------------------------------------------------------------------


class PresetSerializer(serializers.ModelSerializer):
    params = serializers.DictField()

    class Meta:
        model = Preset
        fields = ["id", "name", "model", "system_prompt", "params", "created_at", "updated_at"]
        read_only_fields = fields


class PresetWriteSerializer(StrictFieldsMixin, _UserScopedMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    model = serializers.CharField(required=False, allow_blank=True, max_length=MODEL_NAME_MAX)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    params = ParamsSerializer(required=False)

    def validate_model(self, value):
        return self._model(value)

    def validate_system_prompt(self, value):
        return validate_system_prompt(value)

    def validate_params(self, value):
        return dict(value)
