"""The health endpoint: what is running, what is configured, and the caller's counts."""
from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import error_responses
from core.selectors import broker_status, channel_layer_status, database_status


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    version = serializers.CharField()
    default_model = serializers.CharField(required=False, help_text="Only when authenticated.")
    providers = serializers.DictField(
        child=serializers.BooleanField(), required=False, help_text="{slug: configured}. Only when authenticated."
    )
    database = serializers.ChoiceField(choices=["ok", "error"])
    channel_layer = serializers.ChoiceField(choices=["in-memory", "redis", "redis-unreachable"])
    broker = serializers.ChoiceField(
        choices=["embedded", "redis", "redis-unreachable", "ok", "unreachable"],
        help_text='"embedded": Celery tasks run in-process; otherwise the broker and whether it answers.',
    )
    conversations = serializers.IntegerField(required=False, help_text="Only when authenticated.")
    total_messages = serializers.IntegerField(required=False, help_text="Only when authenticated.")


# What signed-in callers also see, told by the apps that know it (core knows neither providers nor chats):
# each `details(*, user, database_ok) -> dict` is registered in its app's ready().
_signed_in_details: list = []


def add_health_details(details) -> None:
    if details not in _signed_in_details:
        _signed_in_details.append(details)


class HealthView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Service health",
        description=(
            "No authentication needed. Answers 503 when the database does not answer (this request's connection or "
            "the process's long-lived thread), 200 otherwise "
            '(`status` is "degraded" when the channel layer or broker does not answer). Anonymous callers get '
            "the status only; authenticated callers also get `default_model`, `providers` (which are configured "
            "for them: provider and endpoint slugs are not shown to anyone) and their `conversations` and "
            "`total_messages` counts."
        ),
        responses={
            **error_responses(),
            200: HealthSerializer,
            # Health's own 503 is its usual body, not the Error component.
            503: OpenApiResponse(HealthSerializer, description="The database does not answer."),
        },
    )
    def get(self, request):
        database = database_status()
        channel_layer = channel_layer_status()
        broker = broker_status()
        healthy = database == "ok" and "unreachable" not in channel_layer and "unreachable" not in broker
        user_id = request.user.pk if request.user.is_authenticated else None
        body = {
            "status": "ok" if healthy else "degraded",
            "version": settings.PARLEY_VERSION,
            "database": database,
            "channel_layer": channel_layer,
            "broker": broker,
        }
        # Provider and shared endpoint slugs say what the server is wired to: signed-in callers only.
        if user_id is not None:
            body["default_model"] = settings.PARLEY_DEFAULT_MODEL
            for details in _signed_in_details:
                body.update(details(user=request.user, database_ok=database == "ok"))
        return Response(body, status=200 if database == "ok" else 503)
