"""Streaming endpoints: replies and generations over SSE (async views), and a generation's state and cancel.

The SSE views are plain async Django views, so a stream holds no thread; each authenticates like the API and is
documented in OpenAPI by a DRF view class that only carries its schema (see `documented_by`).
"""
import contextlib

from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.views import APIView

from chats.api.generation_serializers import (
    CompletionRequestSerializer,
    GenerationSerializer,
    RegenerateRequestSerializer,
    StatelessChatSerializer,
    ToolApprovalSerializer,
)
from chats.generations import (
    NoUserMessage,
    agenerations_wait_finished,
    generation_cancel,
    generation_event_batches,
    plan_start,
    relay_stateless,
    start_planned,
)
from chats.generations.approvals import tool_approval_decide
from chats.models import Generation
from chats.selectors import conversation_for_streaming, generation_get, latest_generation, latest_user_message
from chats.tree import check_continuable, check_regenerable, message_get, message_parent_get
from core.db_workers import db_call
from core.serializers import ErrorSerializer
from core.sse import ping_seconds, sse_response
from core.streaming import documented_by, json_body, streaming_view
from usage.services import budget_check

SSE = OpenApiResponse(response=OpenApiTypes.STR, description=(
    "text/event-stream: `id: <seq>`, `event: <type>`, `data: <json>` per event (start, content, reasoning, "
    "tool_call, tool_approval, tool_result, citations, usage, error, done); `: ping` every 15 s of silence."
))
ERRORS = {status: ErrorSerializer for status in (400, 401, 402, 403, 404, 409, 413, 429, 502, 503)}


def errors_of(*statuses: int) -> dict:
    """The shared error body for each of these statuses, for a view's documented responses."""
    return {status: ErrorSerializer for status in statuses}


LAST_EVENT_ID = OpenApiParameter("Last-Event-ID", OpenApiTypes.INT, OpenApiParameter.HEADER, required=False,
                                 description="Resume after this event seq (sent by EventSource on reconnect).")


def _after(value) -> int:
    try:
        after = int(value)
    except (TypeError, ValueError):
        raise exceptions.ValidationError({"after": ["Must be a whole number."]}, code="invalid")
    if after < 0:
        raise exceptions.ValidationError({"after": ["Must not be negative."]}, code="invalid")
    return after


def _stream(generation_id, after: int = 0) -> HttpResponse:
    return sse_response(batches=generation_event_batches(generation_id, after=after, idle_timeout=ping_seconds()),
                        headers={"X-Generation-ID": str(generation_id)})


async def _plan_start_and_stream(planner, *args) -> HttpResponse:
    """Every reply endpoint: plan it in one thread hop (`planner(*args)` → StartPlan), start it (the provider call at
    once, its rows stored with the other starts waiting), and stream it as SSE."""
    generation = await start_planned(await db_call(planner, *args))
    return _stream(generation.pk)


# --- conversation replies --------------------------------------------------------------------------------------------


def _resumable_generation(*, user, conversation_id) -> Generation | None:
    return latest_generation(conversation=conversation_for_streaming(user=user, conversation_id=conversation_id))


class ConversationStreamSchema(APIView):
    @extend_schema(
        operation_id="conversation_stream", tags=["streaming"],
        summary="Stream the assistant's reply to the latest user message (SSE)",
        parameters=[OpenApiParameter("model", str, description="`provider/model-id`; default: the message's, "
                                     "then the conversation's, then the server's."), LAST_EVENT_ID],
        responses={(200, "text/event-stream"): SSE, **ERRORS},
    )
    def get(self, request, conversation_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(ConversationStreamSchema)
@streaming_view
async def conversation_stream(request, user, conversation_id):
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id:
        # An EventSource reconnecting: resume the reply it was reading instead of starting another.
        generation = await db_call(_resumable_generation, user=user, conversation_id=conversation_id)
        if generation is not None:
            return _stream(generation.pk, _after(last_event_id))
    return await _plan_start_and_stream(_plan_reply_to_latest, user, conversation_id, request.GET.get("model"))


def _plan_reply_to_latest(user, conversation_id, model):
    """One thread hop: the conversation, its latest user message, and the reply planned."""
    conversation = conversation_for_streaming(user=user, conversation_id=conversation_id)
    reply_to = latest_user_message(conversation=conversation)
    if reply_to is None:
        raise NoUserMessage()
    return plan_start(user=user, conversation=conversation, reply_to=reply_to, content=None, model=model or None,
                      group_id=None, conversation_fresh=True)


class CompletionsSchema(APIView):
    @extend_schema(
        operation_id="conversation_completions", tags=["streaming"],
        summary="Store a user message and stream the reply in one call (SSE)",
        request=CompletionRequestSerializer, responses={(200, "text/event-stream"): SSE, **ERRORS},
    )
    def post(self, request, conversation_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


def _validated(serializer_class, data, user) -> dict:
    serializer = serializer_class(data=data, context={"user": user})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@documented_by(CompletionsSchema)
@streaming_view(methods=("POST",))
async def conversation_completions(request, user, conversation_id):
    return await _plan_start_and_stream(_plan_completion, user, conversation_id, json_body(request))


def _plan_completion(user, conversation_id, body):
    """One thread hop: the conversation, the validated body and the reply planned (stored with the start)."""
    conversation = conversation_for_streaming(user=user, conversation_id=conversation_id)
    data = _validated(CompletionRequestSerializer, body, user)
    extra = {}
    if "parent_id" in data:
        extra["parent"] = message_parent_get(user=user, conversation=conversation, parent_id=data["parent_id"])
    return plan_start(user=user, conversation=conversation, reply_to=None, content=data["content"],
                      model=data.get("model") or None, group_id=None, attachments=data.get("attachments"),
                      conversation_fresh=True, tools=data.get("tools"), **extra)


# --- the tree: regenerate, continue (SPEC §8) ------------------------------------------------------------------------


class RegenerateSchema(APIView):
    @extend_schema(
        operation_id="message_regenerate", tags=["streaming"],
        summary="Answer the same user message again, with a chosen model (SSE)",
        description=(
            "On an assistant message: a new sibling answer to the user message it answers, with `model` (default: "
            "the original's), selected; it sees the history up to that user message. SSE like completions. 400 "
            "`not_an_answer` for a user message, 404 for another user's, 409 while a reply streams there."
        ),
        request=RegenerateRequestSerializer, responses={(200, "text/event-stream"): SSE, **ERRORS},
    )
    def post(self, request, message_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(RegenerateSchema)
@streaming_view(methods=("POST",))
async def message_regenerate(request, user, message_id):
    return await _plan_start_and_stream(_plan_regenerate, user, message_id, json_body(request))


def _plan_regenerate(user, message_id, body):
    message = message_get(user=user, message_id=message_id)
    data = _validated(RegenerateRequestSerializer, body, user)
    question = check_regenerable(message)
    return plan_start(user=user, conversation=message.conversation, reply_to=question, content=None,
                      model=(data.get("model") or "").strip() or message.model or None, group_id=None,
                      tools=data.get("tools"))


class ContinueSchema(APIView):
    @extend_schema(
        operation_id="message_continue", tags=["streaming"],
        summary="Let a stopped reply go on from its text (SSE)",
        description=(
            "On a `cancelled` or `interrupted` reply, or one that ended at its length limit: the model goes on "
            "from its text; the new events stream with the same `message_id` and the stored text becomes the old "
            "followed by the new. 409 `not_continuable` for any other reply, 409 `conversation_busy` while a "
            "reply streams there, 400 `not_an_answer` for a user message."
        ),
        request=None, responses={(200, "text/event-stream"): SSE, **ERRORS},
    )
    def post(self, request, message_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(ContinueSchema)
@streaming_view(methods=("POST",))
async def message_continue(request, user, message_id):
    return await _plan_start_and_stream(_plan_continue, user, message_id)


def _plan_continue(user, message_id):
    message = message_get(user=user, message_id=message_id)
    check_continuable(message)
    return plan_start(user=user, conversation=message.conversation, reply_to=message.parent, content=None,
                      model=message.model or None, group_id=None, continuation=message)


# --- generations -----------------------------------------------------------------------------------------------------


class GenerationDetailView(APIView):
    @extend_schema(operation_id="generation_retrieve", tags=["streaming"], summary="A generation's state",
                   responses={200: GenerationSerializer, **errors_of(401, 404, 429)})
    def get(self, request, generation_id):
        generation = generation_get(user=request.user, generation_id=generation_id)
        return JsonResponse(GenerationSerializer(generation).data)


class GenerationStreamSchema(APIView):
    @extend_schema(
        operation_id="generation_stream", tags=["streaming"],
        summary="Follow a generation: replay what was missed after Last-Event-ID (or ?after=), then live (SSE)",
        parameters=[OpenApiParameter("after", int, description="Resume after this seq (default 0)."),
                    LAST_EVENT_ID],
        responses={(200, "text/event-stream"): SSE, **errors_of(400, 401, 404, 429)},
    )
    def get(self, request, generation_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


@documented_by(GenerationStreamSchema)
@streaming_view
async def generation_stream(request, user, generation_id):
    generation = await db_call(generation_get, user=user, generation_id=generation_id)
    after = _after(request.headers.get("Last-Event-ID") or request.GET.get("after") or 0)
    return _stream(generation.pk, after)


class GenerationCancelSchema(APIView):
    @extend_schema(
        operation_id="generation_cancel", tags=["streaming"],
        summary="Stop a generation; its text so far is kept with status cancelled", request=None,
        responses={200: GenerationSerializer, **errors_of(401, 403, 404, 429)},
    )
    def post(self, request, generation_id):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


def _generation_data(*, user, generation_id) -> dict:
    return GenerationSerializer(generation_get(user=user, generation_id=generation_id)).data


@documented_by(GenerationCancelSchema)
@streaming_view(methods=("POST",))
async def generation_cancel_view(request, user, generation_id):
    generation = await db_call(generation_cancel, user=user, generation_id=generation_id)
    await agenerations_wait_finished(generation.pk)
    return JsonResponse(await db_call(_generation_data, user=user, generation_id=generation.pk))


class GenerationToolApprovalView(APIView):
    @extend_schema(
        operation_id="generation_tool_approval", tags=["streaming"],
        summary="Approve or refuse a tool call waiting in approval mode `ask`",
        description=(
            "The call (its `tool_approval` event's `id`) runs, or is reported to the model as refused by the user. "
            "Works whichever process runs the generation. 409 `no_pending_approval` when that call is not waiting "
            "(unknown, already answered, timed out after PARLEY_TOOL_APPROVAL_TIMEOUT, or its reply has ended)."
        ),
        request=ToolApprovalSerializer, responses={200: ToolApprovalSerializer, **errors_of(400, 401, 404, 409, 429)},
    )
    def post(self, request, generation_id):
        generation = generation_get(user=request.user, generation_id=generation_id)
        serializer = ToolApprovalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return JsonResponse(tool_approval_decide(user=request.user, generation_id=generation.pk,
                                                 call_id=serializer.validated_data["id"],
                                                 approve=serializer.validated_data["approve"]))


# --- stateless chat --------------------------------------------------------------------------------------------------


class StatelessChatSchema(APIView):
    @extend_schema(
        operation_id="chat_stream", tags=["streaming"],
        summary="Stream a reply to the given messages without storing anything (SSE)",
        request=StatelessChatSerializer, responses={(200, "text/event-stream"): SSE, **ERRORS},
    )
    def post(self, request):  # pragma: no cover - schema only
        """Documentation only: the async view routed for this path serves it."""


def _stateless_request(data: dict, route):
    from providers.base import ChatMessage, ChatRequest

    system = "\n\n".join(m["content"] for m in data["messages"] if m["role"] == "system")
    messages = [ChatMessage(role=m["role"], content=m["content"]) for m in data["messages"] if m["role"] != "system"]
    params = {key: value for key, value in (data.get("params") or {}).items() if value is not None}
    return ChatRequest(messages=messages, system=system, params=params)


async def _stateless_events(route, chat_request):
    """The same events as a stored generation, numbered the same way; the upstream call ends with the client."""
    async with contextlib.aclosing(relay_stateless(route, chat_request, idle_timeout=ping_seconds())) as events:
        async for batch in events:
            yield batch


@documented_by(StatelessChatSchema)
@streaming_view(methods=("POST",))
async def chat_stream(request, user):
    from providers.gateway import cached_route, resolve_route_cached

    # No database work unless the route is not cached yet: the body is validated here, on the loop.
    data = _validated(StatelessChatSerializer, json_body(request), user)
    route = cached_route(model=data["model"], user_id=user.pk)
    if route is None:
        route = await db_call(resolve_route_cached, model=data["model"], user_id=user.pk)
    await db_call(budget_check, user_id=user.pk)  # 402 budget_exceeded before the provider is called
    chat_request = _stateless_request(data, route)
    # No X-Generation-ID: nothing is stored, so there is no generation to follow or cancel.
    return sse_response(batches=_stateless_events(route, chat_request))

