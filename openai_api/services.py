"""Gateway calls: run one completion on a model, streamed or whole, and record it once when it ends."""
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from core.db_workers import db_call
from openai_api.errors import GatewayError, from_provider_error
from openai_api.models import GatewayCallStatus
from openai_api.translation import ChunkWriter, CompletionRequest, check_for_protocol, completion_body, has_images
from providers.base import ChatRequest, Route
from providers.errors import ProviderError
from providers.events import EventKind
from providers.gateway import CompletedChat, complete_chat, resolve_route, stream_chat


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    token_id: int | None


def gateway_call_record(*, caller: Caller, model: str, via: str, stream: bool, status: str, error_code: str = "",
                        usage: dict | None = None, latency_ms: int | None = None, reservation=None, request=None,
                        text: str = ""):
    from usage.models import UsageKind
    from usage.services import call_usage_record

    return call_usage_record(kind=UsageKind.GATEWAY, owner_id=caller.user_id, token_id=caller.token_id, model=model,
                             via=via, stream=stream, status=status, error_code=error_code, usage=usage,
                             latency_ms=latency_ms, reservation=reservation, request=request, text=text)


def calls_reserve(*, caller: Caller, calls: list[tuple[Route, ChatRequest]], via: str = "", stream: bool = False
                  ) -> list:
    """Before any of `calls` reaches its provider: 402 `budget_exceeded` (a GatewayError) once the caller's month,
    counting the calls still running, has used up their budget; else each call's usage reservation
    (usage.services.usage_reservation), all in one transaction, so a burst of calls checks one at a time."""
    from django.db import transaction

    from usage.models import UsageKind
    from usage.services import usage_reservation

    try:
        with transaction.atomic():
            return [usage_reservation(user_id=caller.user_id, model=route.model, request=chat, kind=UsageKind.GATEWAY,
                                      token_id=caller.token_id, via=via, stream=stream) for route, chat in calls]
    except ProviderError as exc:
        raise from_provider_error(exc)


def reservations_release(reservations) -> None:
    """Calls reserved that never reached their provider cost nothing."""
    from usage.services import usage_release

    for reservation in reservations:
        if reservation is not None:
            usage_release(record=reservation)


def call_start(*, caller: Caller, completion: CompletionRequest) -> tuple[Route, object]:
    """One model's call: its route (see `route_for`) and its usage reservation (see `calls_reserve`)."""
    route = route_for(caller=caller, model=completion.model, request=completion)
    [reservation] = calls_reserve(caller=caller, calls=[(route, completion.chat)], stream=completion.stream)
    return route, reservation


class CallMeter:
    """What one upstream call did, written as one GatewayCall row when it ends (never per chunk): the row its
    start reserved, or a new one. A stream the provider accepted carries its `request` and the `text` it sent, so
    one that ends before the provider's usage (a client gone, a cut stream) is estimated, not free."""

    __slots__ = ("caller", "model", "via", "stream", "started", "usage", "status", "error_code", "recorded",
                 "reservation", "request", "text")

    def __init__(self, caller: Caller, model: str, *, via: str = "", stream: bool = False, reservation=None) -> None:
        self.caller, self.model, self.via, self.stream = caller, model, via, stream
        self.reservation = reservation
        self.started = time.monotonic()
        self.usage: dict | None = None
        self.status, self.error_code = GatewayCallStatus.CANCELLED, ""
        self.recorded = False
        self.request, self.text = None, ""

    def failed(self, code: str) -> None:
        self.status, self.error_code = GatewayCallStatus.FAILED, code

    async def record(self) -> None:
        if self.recorded:
            return
        self.recorded = True
        latency = int((time.monotonic() - self.started) * 1000)
        write = db_call(gateway_call_record, caller=self.caller, model=self.model, via=self.via, stream=self.stream,
                        status=self.status, error_code=self.error_code, usage=self.usage, latency_ms=latency,
                        reservation=self.reservation, request=self.request, text=self.text)
        # Shielded: a client that goes away cancels the request, not the record of what it cost.
        await asyncio.shield(asyncio.ensure_future(write))


def route_for(*, caller: Caller, model: str, request: CompletionRequest) -> Route:
    """The route to `model` with the caller's resolved key, or the GatewayError saying why there is none."""
    try:
        route = resolve_route(model=model, user_id=caller.user_id)
    except ProviderError as exc:
        raise from_provider_error(exc)
    check_for_protocol(request, route.protocol, model)
    if has_images(request) and not model_sees_images(model, user_id=caller.user_id):
        raise GatewayError(f"{model} does not take images (its catalog entry lacks vision).", status=400,
                           code="unsupported_attachment", param="messages")
    return route


def model_sees_images(model: str, *, user_id: int | None) -> bool:
    """Whether the catalog lists `model` with vision; a model the catalog does not know is given the benefit."""
    from providers.selectors import catalog_entry

    entry = catalog_entry(model=model, user_id=user_id)
    return entry is None or "vision" in (entry.capabilities or ())


async def complete(meter: CallMeter, route: Route, chat: ChatRequest) -> CompletedChat:
    """The whole answer of one model, recorded; a provider failure raises a GatewayError."""
    try:
        result = await complete_chat(route, chat)
    except ProviderError as exc:
        meter.failed(exc.code)
        raise from_provider_error(exc)
    else:
        meter.usage, meter.status = result.usage, GatewayCallStatus.COMPLETE
        return result
    finally:
        await meter.record()


async def completion_whole(meter: CallMeter, route: Route, chat: ChatRequest, *, model: str) -> dict:
    """A `chat.completion` body; `model` is the name the client asked for."""
    result = await complete(meter, route, chat)
    return completion_body(model=model, text=result.text, reasoning=result.reasoning,
                           tool_calls=result.metadata.get("tool_calls") or [], finish_reason=result.finish_reason,
                           usage=result.usage)


async def completion_stream(meter: CallMeter, route: Route, chat: ChatRequest, writer: ChunkWriter
                            ) -> AsyncIterator[bytes]:
    """The chunks of a streamed answer. The first event is awaited here, before any byte is sent, so a provider
    that refuses the call (429, 503, a bad key) is answered with its HTTP status; later failures end the stream
    with an error chunk."""
    events = stream_chat(route, chat)
    try:
        first = await anext(events)
    except ProviderError as exc:
        meter.failed(exc.code)
        await events.aclose()
        await meter.record()
        raise from_provider_error(exc)
    except BaseException:
        await events.aclose()
        await meter.record()
        raise
    meter.request = chat  # accepted: from here on an early end is estimated from the request and the text
    return _relay(meter, first, events, writer)


def _took(meter: CallMeter, writer: ChunkWriter) -> None:
    """What a stream that ends without (or before) the provider's usage is recorded with."""
    meter.usage = meter.usage or writer.usage or writer.prompt_usage
    meter.text = "".join(writer.text)


async def _relay(meter: CallMeter, first, events, writer: ChunkWriter) -> AsyncIterator[bytes]:
    """The hot path. A reader task frames each event (one json.dumps, no database, no parsing) into `pending`;
    this generator sends whatever has piled up as one write, so a busy server sends fewer, larger writes. The call
    is recorded before the last chunk goes out, so a client that has read [DONE] finds it recorded."""
    pending: list[bytes] = [writer.start()]
    ready = asyncio.Event()
    ended = False

    async def read() -> None:
        nonlocal ended
        frame, event = writer.frame, first
        try:
            async with contextlib.aclosing(events):
                while True:
                    chunk = frame(event)
                    if event.kind is EventKind.FINISH:
                        meter.usage, meter.status = writer.usage, GatewayCallStatus.COMPLETE
                        await meter.record()
                        pending.append(chunk)
                        return
                    if chunk:
                        pending.append(chunk)
                        ready.set()
                    event = await anext(events)
        except ProviderError as exc:
            meter.failed(exc.code)
            _took(meter, writer)
            await meter.record()
            pending.append(writer.error(from_provider_error(exc)))
        finally:
            _took(meter, writer)
            await meter.record()
            ended = True
            ready.set()

    reader = asyncio.get_running_loop().create_task(read())
    try:
        while True:
            await ready.wait()
            ready.clear()
            if pending:
                batch = b"".join(pending) if len(pending) > 1 else pending[0]
                pending.clear()
                yield batch
            if ended and not pending:
                return
    finally:
        if not reader.done():
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
