"""What valid chat input is: model names, generation params, and the size limits from settings."""
import re
import uuid

from django.conf import settings
from rest_framework import serializers

from core.exceptions import PayloadTooLarge
from core.serializers import StrictFieldsMixin

# `provider/model-id`: a provider slug, a slash, and the provider's own id (which may hold slashes).
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}/[A-Za-z0-9._:@+\-/]{1,200}$")
MAX_OUTPUT_TOKENS = 1_000_000
MAX_THINKING_BUDGET = 1_000_000
MAX_ATTACHMENTS = 20


def validate_model_name(value: str, *, user_id: int | None = None) -> str:
    """A model named `provider/model-id` whose provider is a built-in or one of the user's endpoints."""
    from providers.selectors import known_provider_slugs

    value = value.strip()
    if not MODEL_NAME.match(value) or value.endswith("/"):
        raise serializers.ValidationError(
            "A model is named provider/model-id, e.g. openai/gpt-4o or openrouter/openai/gpt-4o.",
            code="invalid_model",
        )
    provider = value.split("/", 1)[0]
    if provider not in known_provider_slugs(user_id=user_id):
        raise serializers.ValidationError(f"Unknown provider '{provider}'.", code="unknown_provider")
    return value


def validate_title(value: str) -> str:
    from chats.models import Conversation

    value = value.strip()
    # The setting may lower the limit, never raise it past what the column holds.
    limit = min(settings.PARLEY_MAX_TITLE_LENGTH, Conversation._meta.get_field("title").max_length)
    if len(value) > limit:
        raise serializers.ValidationError(f"At most {limit} characters.", code="too_long")
    return value


def validate_system_prompt(value: str) -> str:
    limit = settings.PARLEY_MAX_SYSTEM_PROMPT_CHARS
    if len(value) > limit:
        raise serializers.ValidationError(f"At most {limit} characters.", code="too_long")
    return value


def validate_message_content(value: str) -> str:
    """Non-blank; over PARLEY_MAX_MESSAGE_CHARS is a 413 (code "too_large"), not a 400."""
    if not value.strip():
        raise serializers.ValidationError("The message is empty.", code="blank")
    limit = settings.PARLEY_MAX_MESSAGE_CHARS
    if len(value) > limit:
        raise PayloadTooLarge(f"A message holds at most {limit} characters.")
    return value


class AttachmentIdsField(serializers.ListField):
    """`"attachments": [upload ids]`: each an upload id (UUID), at most MAX_ATTACHMENTS; anything else is 400
    `invalid_attachment` (whether the uploads are the caller's is checked when the message is stored)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField())
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", f"Ids of your uploads (POST /api/v1/uploads/), at most {MAX_ATTACHMENTS}.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("A list of upload ids.", code="invalid_attachment")
        if len(data) > MAX_ATTACHMENTS:
            raise serializers.ValidationError(f"At most {MAX_ATTACHMENTS} attachments.", code="too_many_attachments")
        return [attachment_id(item) for item in data]


def attachment_id(value) -> uuid.UUID:
    try:
        if not isinstance(value, str):
            raise ValueError
        return uuid.UUID(value)
    except ValueError:
        raise serializers.ValidationError("Each attachment is the id of one of your uploads.",
                                          code="invalid_attachment") from None


class _StrictFloat(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class _StrictInteger(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class ParamsSerializer(StrictFieldsMixin, serializers.Serializer):
    """Generation parameters; unknown ones are rejected, null unsets one."""

    temperature = _StrictFloat(min_value=0, max_value=2, required=False, allow_null=True)
    max_tokens = _StrictInteger(min_value=1, max_value=MAX_OUTPUT_TOKENS, required=False, allow_null=True)
    top_p = _StrictFloat(min_value=0, max_value=1, required=False, allow_null=True)
    reasoning_effort = serializers.ChoiceField(
        choices=["low", "medium", "high"], required=False, allow_null=True
    )
    thinking_budget = _StrictInteger(min_value=0, max_value=MAX_THINKING_BUDGET, required=False, allow_null=True)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        return {name: value for name, value in values.items() if value is not None}


TOOL_APPROVAL_MODES = ["auto", "ask"]
MAX_TOOL_SPECS = 100
MAX_OFFERED_TOOLS = 128  # OpenAI's limit on `tools`, the tightest of the three protocols


class ToolSpecsField(serializers.ListField):
    """`"tools": ["<server>/<tool>" | "<server>/*", ...]`; whether the user may use them is checked with the user
    (`validate_tool_specs`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=200))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_TOOL_SPECS)
        kwargs.setdefault("help_text", 'MCP tools the model may call: "<server>/<tool>" or "<server>/*".')
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            raise serializers.ValidationError('A list of "<server>/<tool>" or "<server>/*" names.',
                                              code="invalid_tool")
        return super().to_internal_value(data)


class ConversationParamsSerializer(ParamsSerializer):
    """A conversation's params add the tools it offers and whether each call waits for the user (SPEC §7)."""

    tools = ToolSpecsField(allow_null=True)
    tool_approval = serializers.ChoiceField(choices=TOOL_APPROVAL_MODES, required=False, allow_null=True)


def validate_tool_specs(specs, *, user) -> list[dict]:
    """The tools the specs offer (tools.selectors.offered_tools) if `user` may use them all; else a 400 with the
    code of what is wrong (invalid_tool, unknown_tool_server, unknown_tool, tool_server_disabled)."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    from tools.selectors import offered_tools

    try:
        offered = offered_tools(user=user, specs=list(specs or []))
    except DjangoValidationError as exc:
        error = exc.error_dict["tools"][0]
        raise serializers.ValidationError({"tools": [serializers.ErrorDetail(error.message, code=error.code)]})
    if len(offered) > MAX_OFFERED_TOOLS:
        raise serializers.ValidationError({"tools": [serializers.ErrorDetail(
            f"These specs offer {len(offered)} tools; a reply may be offered at most {MAX_OFFERED_TOOLS} (name the "
            "tools you need instead of <server>/*).", code="too_many_tools")]})
    return offered


def validate_params(value) -> dict:
    """Checked generation params as a plain dict (raises ValidationError listing what is wrong)."""
    params = ParamsSerializer(data=value)
    params.is_valid(raise_exception=True)
    return dict(params.validated_data)
