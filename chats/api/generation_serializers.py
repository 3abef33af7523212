"""Request and response shapes of generations and the streaming endpoints."""
from rest_framework import serializers

from chats.generations.state import RUNS
from chats.models import Generation
from chats.validation import AttachmentIdsField, ParamsSerializer, ToolSpecsField, validate_message_content
from core.serializers import StrictFieldsMixin


class GenerationSerializer(serializers.ModelSerializer):
    conversation_id = serializers.UUIDField(read_only=True, allow_null=True)
    message_id = serializers.UUIDField(read_only=True, allow_null=True)
    content = serializers.SerializerMethodField()
    reasoning = serializers.SerializerMethodField()

    class Meta:
        model = Generation
        fields = [
            "id", "conversation_id", "message_id", "model", "status", "last_seq", "group_id", "finish_reason",
            "usage", "cost", "ttft_ms", "latency_ms", "error_code", "error", "content", "reasoning",
            "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    # While it streams in this process, the text is the live one (the stored text trails by up to a second).
    def get_content(self, obj) -> str:
        run = RUNS.get(str(obj.pk))
        if run is not None:
            return "".join(run.content)
        return obj.message.content if obj.message_id else ""

    def get_reasoning(self, obj) -> str:
        run = RUNS.get(str(obj.pk))
        if run is not None:
            return "".join(run.reasoning)
        return obj.message.reasoning if obj.message_id else ""


class CompletionRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    # The model name is checked when its route is resolved (400 invalid_model / unknown_provider), in one place.
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                    help_text="The user's message; stored, then answered.")
    message = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                    help_text="Same as `content` (seed clients).")
    model = serializers.CharField(required=False, allow_blank=True, max_length=300,
                                  help_text="`provider/model-id`; defaults to the conversation's model.")
    attachments = AttachmentIdsField()
    parent_id = serializers.UUIDField(
        required=False, allow_null=True,
        help_text="Edit and resend: the new message goes under this message (null: a new first message), is "
                  "selected, and is answered with the history up to it. Default: it follows the current branch.",
    )
    tools = ToolSpecsField(help_text='MCP tools this reply may call ("<server>/<tool>" or "<server>/*"), instead '
                                     "of the conversation's `params.tools`; `[]` offers none.")

    def validate(self, attrs):
        if ("content" in attrs) == ("message" in attrs):
            raise serializers.ValidationError({"content": ["Give `content` (or `message`)."]}, code="required")
        attrs["content"] = validate_message_content(attrs.pop("message", None) or attrs.get("content", ""))
        return attrs


class RegenerateRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    model = serializers.CharField(required=False, allow_blank=True, max_length=300,
                                  help_text="`provider/model-id`; default: the regenerated reply's model.")
    tools = ToolSpecsField(help_text="MCP tools this answer may call, instead of the conversation's `params.tools`.")


class ToolApprovalSerializer(StrictFieldsMixin, serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="The tool call's id (from its `tool_approval` event).")
    approve = serializers.BooleanField(help_text="true runs the call; false refuses it.")

    def to_internal_value(self, data):
        if isinstance(data, dict) and "approve" in data and not isinstance(data["approve"], bool):
            raise serializers.ValidationError({"approve": ["Must be true or false."]}, code="invalid")
        return super().to_internal_value(data)


class StatelessMessageSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class StatelessChatSerializer(StrictFieldsMixin, serializers.Serializer):
    model = serializers.CharField(max_length=300, help_text="`provider/model-id`.")
    messages = StatelessMessageSerializer(many=True, allow_empty=False)
    params = ParamsSerializer(required=False)

    def validate_model(self, value):
        if not value.strip():
            self.fail("blank")
        return value.strip()

    def validate_messages(self, value):
        for message in value:
            if message["role"] == "user":
                validate_message_content(message["content"])
        if not any(message["role"] != "system" for message in value):
            raise serializers.ValidationError("At least one user or assistant message is needed.", code="required")
        return value
