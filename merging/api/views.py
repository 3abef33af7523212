"""Merge jobs, their live streams, and choosing among compare siblings over REST; views only call services."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chats.serializers import MessageSerializer
from core.db_workers import db_call
from core.openapi import error_responses, id_parameter
from core.pagination import PageNumberPagination, paginated_response
from core.sse import numbered_sse_response
from core.streaming import documented_by, streaming_view
from merging import selectors, services
from merging.api.serializers import (
    MergeAcceptedSerializer,
    MergeCreateSerializer,
    MergeJobDetailSerializer,
    MergeJobSerializer,
)
from merging.streams import merge_job_events

MERGE_STREAM_DESCRIPTION = """Server-sent events of a merge job. First its current state (a `status` event, and the
merge model's text so far as one `content` event), then live events until it ends:

* `status` — `status`, `progress` (0-100), `stage`, `round`
* `content` — `content` (text delta of the merge model's answer), `offset` (where it starts), `round` (a new round,
  e.g. the one retry after an unparseable answer, starts the text over)
* `error` — `code`, `message`, `retryable` (the job failed; `raw_output` on the job keeps the unparseable answer)
* `merge_complete` — `status` (`succeeded` or `failed`), `conversation_id` (merges) or `message_id` (fusions)

A subscriber that arrives late, even after the end, still gets the final `status` and `merge_complete`.
`id:` numbers the frames of this response; a reconnecting client just opens the stream again (it starts from
the current state, so `Last-Event-ID` is not needed)."""


_JOB_ID = id_parameter("job_id", description="The merge job's UUID.")


class MergeListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="merges_list",
        summary="List your merge jobs",
        description="Newest first.",
        responses={200: MergeJobSerializer(many=True), **error_responses(404)},
    )
    def get(self, request):
        return paginated_response(self, selectors.merge_job_list(owner=request.user), MergeJobSerializer)

    @extend_schema(
        operation_id="merges_create",
        summary="Merge conversations, or fuse sibling answers",
        description=(
            "`conversation_ids` (two or more of yours, none empty) merges them into a NEW conversation that keeps "
            "every insight, drops repetition and states contradictions. `message_ids` (two or more sibling answers, "
            "i.e. replies to the same user message, e.g. from a compare) fuses them into one new selected answer in "
            "their conversation. `model` is the merge model (`provider/model-id`; its key must be configured). "
            "Answers 202 at once; follow `GET /api/v1/merges/{id}/stream/`. The same request repeated within "
            "PARLEY_MERGE_DEDUP_SECONDS returns the same job. Bad input makes no job: 400 `too_few_sources`, "
            "`duplicate_ids`, `too_many_sources`, `empty_conversation`, `not_siblings`, `not_an_answer`, "
            "`empty_message`, `invalid_model`, `unknown_provider`, `provider_not_configured`; 404 `not_found` for "
            "an id that is not yours."
        ),
        request=MergeCreateSerializer,
        responses={202: MergeAcceptedSerializer, **error_responses(400, 402, 404)},
    )
    def post(self, request):
        serializer = MergeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job, _created = services.merge_job_create(owner=request.user, **serializer.validated_data)
        body = {**MergeJobSerializer(job).data, "id": str(job.id), "status": job.status}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MergeDetailView(APIView):
    @extend_schema(
        operation_id="merges_retrieve",
        summary="A merge job",
        description="Status, progress, result ids, error (and the raw answer when it could not be parsed), "
                    "and provenance rows once it succeeded.",
        parameters=[_JOB_ID],
        responses={200: MergeJobDetailSerializer, **error_responses(404)},
    )
    def get(self, request, job_id):
        job = selectors.merge_job_get(owner=request.user, job_id=job_id)
        return Response(MergeJobDetailSerializer(job).data)


class MergeStreamSchema(APIView):
    @extend_schema(
        operation_id="merges_stream",
        summary="Follow a merge job (SSE)",
        description=MERGE_STREAM_DESCRIPTION,
        parameters=[_JOB_ID],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="SSE frames"),
            **error_responses(404),
        },
    )
    def get(self, request, job_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(MergeStreamSchema)
@streaming_view
async def merge_stream(request, user, job_id):
    """An async view like the other streams, so following a merge holds no thread."""
    job = await db_call(selectors.merge_job_get, owner=user, job_id=job_id)
    return numbered_sse_response(merge_job_events(job.id))


class MessageSelectView(APIView):
    @extend_schema(
        operation_id="messages_select",
        summary="Continue the conversation from this answer",
        description=(
            "Any message, user or assistant (SPEC §8): makes this one `selected`, its siblings (other answers to "
            "one user message, e.g. from a compare or a fusion, or other versions of an edited message) "
            "`selected: false`, and with it the branch below it. They all stay in the tree; the next reply builds "
            "on the selected branch. 404 for another user's message."
        ),
        request=None,
        parameters=[id_parameter("message_id", description="The message's UUID.")],
        responses={200: MessageSerializer, **error_responses(400, 404)},
    )
    def post(self, request, message_id):
        message = services.message_select(owner=request.user, message_id=message_id)
        return Response(MessageSerializer(message).data)
