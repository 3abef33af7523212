"""OpenAPI descriptions of the /v1 gateway, in OpenAI's wire format (the async views cannot carry them)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView


class OpenAIErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField(help_text="invalid_request_error, authentication_error, rate_limit_error, "
                                           "server_error …")
    param = serializers.CharField(allow_null=True)
    code = serializers.CharField(help_text="A stable code, e.g. model_not_found, invalid_api_key, rate_limited.")


class OpenAIErrorSerializer(serializers.Serializer):
    error = OpenAIErrorDetailSerializer()


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant", "tool"])
    content = serializers.JSONField(help_text="A string, or a list of parts: `{\"type\":\"text\",\"text\"}`.")
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)
    tool_call_id = serializers.CharField(required=False)


class FusionSerializer(serializers.Serializer):
    models = serializers.ListField(child=serializers.CharField(), help_text="The models asked concurrently.")
    judge = serializers.CharField(help_text="The model that fuses their answers.")


class ChatCompletionRequestSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="`provider/model-id`, or `parley/fusion`.")
    messages = ChatMessageSerializer(many=True)
    stream = serializers.BooleanField(required=False)
    stream_options = serializers.DictField(required=False, help_text="`{\"include_usage\": true}`")
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1)
    stop = serializers.JSONField(required=False, help_text="A string or up to 4 strings.")
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    tool_choice = serializers.JSONField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False)
    response_format = serializers.DictField(required=False)
    reasoning_effort = serializers.ChoiceField(choices=["minimal", "low", "medium", "high"], required=False)
    seed = serializers.IntegerField(required=False)
    presence_penalty = serializers.FloatField(required=False)
    frequency_penalty = serializers.FloatField(required=False)
    parley = FusionSerializer(required=False, help_text="Only with `parley/fusion`.")


class ChatCompletionSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text="chat.completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = serializers.ListField(child=serializers.DictField())
    usage = serializers.DictField()


class ModelEntrySerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(help_text="model")
    created = serializers.IntegerField()
    owned_by = serializers.CharField(help_text="The provider slug.")


class ModelListSerializer(serializers.Serializer):
    object = serializers.CharField(help_text="list")
    data = ModelEntrySerializer(many=True)


ERRORS = {status: OpenAIErrorSerializer for status in (400, 401, 402, 404, 413, 429, 502, 503)}


class ChatCompletionsSchema(APIView):
    @extend_schema(
        operation_id="openai_chat_completions", tags=["openai-compatible"], auth=[{"bearerAuth": []}],
        summary="OpenAI-compatible chat completions (streamed with stream=true)",
        description="OpenAI's chat completions over every provider, with the caller's keys. `stream: true` answers "
        "`text/event-stream` of `chat.completion.chunk` objects ending with `data: [DONE]`; a provider error "
        "mid-stream is a final `data: {\"error\": {...}}`. See README, \"OpenAI-compatible gateway\".",
        request=ChatCompletionRequestSerializer,
        responses={200: ChatCompletionSerializer,
                   (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="chunks"), **ERRORS},
    )
    def post(self, request):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


class ModelsSchema(APIView):
    @extend_schema(
        operation_id="openai_models_list", tags=["openai-compatible"], auth=[{"bearerAuth": []}],
        summary="OpenAI-compatible model list: the catalog models you can use, and parley/fusion",
        responses={200: ModelListSerializer, 401: OpenAIErrorSerializer},
    )
    def get(self, request):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""
