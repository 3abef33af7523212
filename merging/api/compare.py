"""`POST /api/v1/compare/`: one prompt to many models at once, as JSON when all are done or as tagged SSE.

An async view (like the other streaming endpoints), so waiting on N models holds no thread.
"""
from asgiref.sync import sync_to_async
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from core.openapi import error_responses
from core.sse import numbered_sse_response
from core.streaming import documented_by, json_body, streaming_view
from merging.api.serializers import CompareRequestSerializer, CompareResponseSerializer
from merging.compare import (
    compare_attachments_validate,
    compare_collect,
    compare_events,
    compare_models_validate,
    compare_selection,
    compare_start,
)

COMPARE_DESCRIPTION = """Asks every model the same `prompt` at once; the wall time is the slowest model's, and one
model failing never delays or breaks the others. Stored as ONE user message with one sibling assistant answer per
model (`reply_to` = the user message), each produced by a generation of its own that shares the compare's
`group_id`. The first answer to complete becomes `selected` (the one the conversation continues from); change it
with `POST /api/v1/messages/{id}/select/`.

Every model is checked before anything is stored: 400 `invalid_model`, `unknown_provider`,
`provider_not_configured`, `duplicate_models`, `too_many_models` (over 8), `no_models`, `invalid_attachment`,
`attachment_in_use`, `unsupported_attachment` (an image for a model without vision), a `tools` code
(`unknown_tool_server`, `unknown_tool`, `tool_server_disabled`, `invalid_tool`, `too_many_tools`); 404 for a foreign
`conversation_id`; 409 while another reply streams in that conversation; 413 for a prompt over
PARLEY_MAX_MESSAGE_CHARS.

`stream: false` (default): JSON once every model is done, answers in the order of `models`.

`stream: true`: `text/event-stream` of the live-chat events (`start`, `content`, `reasoning`, `usage`, `error`,
`done`...) of all models interleaved as they arrive. Every event carries `model`, `message_id`, `generation_id` and
its generation's own `seq`. Frame `id:`s number the combined stream (unique, increasing); they are not resume
points: to resume, follow each unfinished model's generation with
`GET /api/v1/generations/{generation_id}/stream/?after=<last seq seen for it>`. The stream ends after every model's
`done`. Headers `X-Conversation-ID`, `X-User-Message-ID` and `X-Compare-Group-ID` name what was stored; the
WebSocket `ws/compare/` follows the same group again."""


def compare_request_validate(data: dict, user) -> dict:
    serializer = CompareRequestSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    validated = dict(serializer.validated_data)
    validated["models"] = compare_models_validate(user_id=user.pk, models=validated.get("models"))
    validated["attachments"] = compare_attachments_validate(user=user, upload_ids=validated.get("attachments"),
                                                            models=validated["models"])
    if validated.get("tools"):
        from chats.validation import validate_tool_specs

        validate_tool_specs(validated["tools"], user=user)
    return validated


class CompareSchema(APIView):
    @extend_schema(
        operation_id="compare", tags=["compare"], summary="Ask several models the same question at once",
        description=COMPARE_DESCRIPTION, request=CompareRequestSerializer,
        responses={
            200: CompareResponseSerializer,
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="SSE, see above"),
            **error_responses(400, 402, 404, 409, 413),
        },
    )
    def post(self, request):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(CompareSchema)
@streaming_view(methods=("POST",))
async def compare_view(request, user):
    data = await sync_to_async(compare_request_validate)(json_body(request), user)
    run = await compare_start(user=user, prompt=data["prompt"], models=data["models"],
                              conversation_id=data.get("conversation_id"), attachments=data["attachments"],
                              tools=data.get("tools"))
    ids = {"conversation_id": str(run.conversation.id), "user_message_id": str(run.user_message.id),
           "group_id": str(run.group_id)}
    if data["stream"]:
        return numbered_sse_response(compare_events(run), headers={
            "X-Conversation-ID": ids["conversation_id"], "X-User-Message-ID": ids["user_message_id"],
            "X-Compare-Group-ID": ids["group_id"]})
    responses = await compare_collect(run)
    selected = await compare_selection(run)
    return JsonResponse({**ids, "selected_message_id": selected, "responses": responses})
