"""`POST /api/v1/compare/estimate/`: what a compare would cost, per model, before anything runs."""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses
from core.serializers import StrictFieldsMixin
from merging.compare import compare_estimate


class CompareEstimateRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    prompt = serializers.CharField(trim_whitespace=False, help_text="The question the compare would ask.")
    models = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False,
                                   help_text="As for the compare; default: the compare's default models.")
    conversation_id = serializers.UUIDField(required=False, allow_null=True,
                                            help_text="Its history counts towards the prompt.")

    def validate_prompt(self, value: str) -> str:
        from chats.validation import validate_message_content

        return validate_message_content(value)


class ModelEstimateSerializer(serializers.Serializer):
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField(help_text="Estimated: the prompt with the conversation's history.")
    max_completion_tokens = serializers.IntegerField()
    prompt_cost = serializers.FloatField(allow_null=True, help_text="USD; null when the model's price is unknown.")
    max_cost = serializers.FloatField(allow_null=True, help_text="USD, with the maximum completion.")


class CompareEstimateSerializer(serializers.Serializer):
    models = ModelEstimateSerializer(many=True)


class CompareEstimateView(APIView):
    @extend_schema(
        operation_id="compare_estimate", tags=["compare"], summary="Estimate a compare's cost before running it",
        description="Per model: the prompt's estimated tokens and cost, and the cost with the model's maximum "
        "completion (the conversation's `max_tokens`, else the price table's, else "
        "PARLEY_ESTIMATE_MAX_COMPLETION_TOKENS). The models are checked as for the compare.",
        request=CompareEstimateRequestSerializer,
        responses={200: CompareEstimateSerializer, **error_responses(400, 402, 404, 413)},
    )
    def post(self, request):
        serializer = CompareEstimateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response({"models": compare_estimate(user=request.user, prompt=data["prompt"],
                                                    models=data.get("models"),
                                                    conversation_id=data.get("conversation_id"))})
