"""`POST /v1/chat/completions` and `GET /v1/models`: async views speaking OpenAI's wire format."""
import time

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from accounts.authentication import api_token_for
from core.db_workers import db_call
from core.streaming import documented_by, json_body
from openai_api.errors import GatewayError, from_api_exception
from openai_api.fusion import fusion_judge_request
from openai_api.models import FUSION_MODEL
from openai_api.schema import ChatCompletionsSchema, ModelsSchema
from openai_api.selectors import usable_models
from openai_api.services import Caller, CallMeter, call_start, completion_stream, completion_whole
from openai_api.translation import ChunkWriter, parse_request


async def _caller(request) -> Caller:
    """The token's owner; OpenAI SDKs send the key as `Authorization: Bearer <token>`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError("Missing API key: send a Parley API token as `Authorization: Bearer <token>`.",
                           status=401, code="missing_api_key")
    api_token = await db_call(api_token_for, token.strip())
    if api_token is None:
        raise GatewayError("Invalid or revoked API token.", status=401, code="invalid_api_key")
    return Caller(user_id=api_token.user_id, token_id=api_token.pk)


def openai_view(method: str):
    """An async view answering every refusal in OpenAI's error shape; other methods are 405."""

    def decorate(view):
        @csrf_exempt
        async def wrapped(request, *args, **kwargs):
            try:
                caller = await _caller(request)
                if request.method != method:
                    raise GatewayError(f"Method {request.method} not allowed.", status=405, code="method_not_allowed")
                return await view(request, caller, *args, **kwargs)
            except GatewayError as exc:
                return exc.response()
            except exceptions.APIException as exc:  # from the shared body parsing (size limits, bad JSON)
                return from_api_exception(exc).response()

        wrapped.__name__ = view.__name__
        return wrapped

    return decorate


@documented_by(ChatCompletionsSchema)
@openai_view("POST")
async def chat_completions(request, caller: Caller):
    completion = parse_request(json_body(request))
    if completion.fusion is not None:
        route, chat, reservation = await fusion_judge_request(caller=caller, request=completion)
        via = FUSION_MODEL
    else:
        route, reservation = await db_call(call_start, caller=caller, completion=completion)
        chat, via = completion.chat, ""
    meter = CallMeter(caller, route.model, via=via, stream=completion.stream, reservation=reservation)
    if not completion.stream:
        return JsonResponse(await completion_whole(meter, route, chat, model=completion.model))
    writer = ChunkWriter(model=completion.model, include_usage=completion.include_usage)
    frames = await completion_stream(meter, route, chat, writer)
    response = StreamingHttpResponse(frames, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@documented_by(ModelsSchema)
@openai_view("GET")
async def models(request, caller: Caller):
    rows = await db_call(usable_models, user_id=caller.user_id)
    created = int(time.time())
    data = [{"id": row.model_name, "object": "model", "created": created, "owned_by": row.provider} for row in rows]
    data.append({"id": FUSION_MODEL, "object": "model", "created": created, "owned_by": "parley"})
    return JsonResponse({"object": "list", "data": data})


@csrf_exempt
async def not_found(request, *args, **kwargs):
    return GatewayError(f"Unknown path {request.path}: /v1 serves chat/completions and models.", status=404,
                        code="not_found").response()


def alias(view):
    """The same view under a second path, left out of the OpenAPI schema (one documented path per endpoint)."""

    @csrf_exempt
    async def aliased(request, *args, **kwargs):
        return await view(request, *args, **kwargs)

    return aliased
