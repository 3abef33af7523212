"""Compare: one prompt to many models at once, each answer a generation of its own, stored as siblings."""
import asyncio
import contextlib
import contextvars
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import OperationalError, transaction

from chats.models import Conversation, Generation, Message, MessageRole
from core.events import tagged
from merging.services import InvalidRequest, check_model, message_select

MAX_MODELS = 8


def default_compare_models(*, user_id: int) -> list[str]:
    """PARLEY_COMPARE_MODELS, else the first listed model of every provider this user has a key for."""
    if settings.PARLEY_COMPARE_MODELS:
        return list(settings.PARLEY_COMPARE_MODELS)
    from providers import gateway
    from providers.registry import PROVIDERS

    models = []
    for slug, source in gateway.configured_providers(user_id).items():
        spec = PROVIDERS.get(slug)
        if source is not None and spec is not None and spec.static_models:
            models.append(f"{slug}/{spec.static_models[0]}")
    return models


def compare_models_validate(*, user_id: int, models: list[str] | None) -> list[str]:
    """The models to ask, each reachable by this user; a 4xx naming the first problem otherwise."""
    explicit = models is not None
    models = [m.strip() for m in models] if explicit else default_compare_models(user_id=user_id)
    if not models:
        raise InvalidRequest(
            "No models to compare: pass `models`, set PARLEY_COMPARE_MODELS, or add a provider key.",
            code="no_models")
    if len(set(models)) != len(models):
        raise InvalidRequest("The same model is listed more than once.", code="duplicate_models")
    limit = getattr(settings, "PARLEY_COMPARE_MAX_MODELS", MAX_MODELS)
    if len(models) > limit:
        raise InvalidRequest(f"At most {limit} models can be compared at once.", code="too_many_models")
    for model in models:
        try:
            check_model(model=model, user_id=user_id)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{model}: {exc.detail}", code=exc.detail.code, status_code=exc.status_code)
    return models


def compare_attachments_validate(*, user, upload_ids: list | None, models: list[str]) -> list:
    """The uploads to send to every model: the caller's own, unattached, and readable by each model (400)."""
    from uploads.attachments import attachments_check
    from uploads.selectors import attachments_for_message

    uploads = attachments_for_message(owner=user, upload_ids=upload_ids or [])
    for model in models:
        attachments_check(uploads=uploads, model=model, user_id=user.pk)
    return uploads


@dataclass
class CompareRun:
    conversation: Conversation
    user_message: Message
    group_id: uuid.UUID
    generations: list[Generation] = field(default_factory=list)
    # Makes the first complete answer the selected one, whether or not anyone follows the compare.
    selector: asyncio.Task | None = None


# Detached tasks are only weakly referenced by the loop: keep them until they finish.
_background: set[asyncio.Task] = set()


def _store_prompt(*, user, prompt: str, conversation_id, attachments: list) -> tuple[Conversation, Message]:
    from chats.selectors import conversation_get
    from chats.services import conversation_create, message_create

    with transaction.atomic():
        if conversation_id:
            conversation = conversation_get(user=user, conversation_id=conversation_id)
        else:
            conversation = conversation_create(owner=user)
        message = message_create(conversation=conversation, content=prompt, role=MessageRole.USER,
                                 attachments=attachments)
    return conversation, message


def _discard(*, conversation: Conversation, message: Message, created: bool) -> None:
    """Undo the stored prompt when not one model could be started (the conversation is busy); its uploads
    become unattached again, so the same ids can be sent once more."""
    from uploads.services import uploads_detach

    uploads_detach(message=message)
    if created:
        conversation.delete()
    else:
        message.delete()


async def compare_start(*, user, prompt: str, models: list[str], conversation_id=None,
                        attachments: list | None = None, tools: list[str] | None = None) -> CompareRun:
    """Store the prompt (with its attachments, which every model gets) and start one generation per model, all
    sharing a group id; they run concurrently, each with its own tool loop (`tools`, else the conversation's
    `params.tools`)."""
    from chats.generations import ageneration_start

    conversation, message = await sync_to_async(_store_prompt)(
        user=user, prompt=prompt, conversation_id=conversation_id, attachments=attachments or [])
    run = CompareRun(conversation, message, uuid.uuid4())
    try:
        for model in models:
            run.generations.append(await ageneration_start(
                user=user, conversation=conversation, reply_to=message, model=model, group_id=run.group_id,
                tools=tools))
    except Exception:
        if not run.generations:
            await sync_to_async(_discard)(conversation=conversation, message=message, created=not conversation_id)
        raise
    # A context of its own: the request's (and its thread for sync calls) ends before the compare may.
    run.selector = asyncio.create_task(_select_first_complete(run), name=f"compare-select-{run.group_id}",
                                       context=contextvars.Context())
    _background.add(run.selector)
    run.selector.add_done_callback(_background.discard)
    return run


async def _select_first_complete(run: CompareRun) -> None:
    """The live-chat engine selects the first sibling started; a compare continues from the first to complete."""
    async with contextlib.aclosing(compare_events(run)) as events:
        async for event in events:
            if event["type"] == "done" and event.get("status") == "complete":
                await _select_answer(run.conversation.owner_id, event["message_id"])
                return


async def _select_answer(owner_id, message_id, *, attempts: int = 3) -> None:
    """Select the answer; its siblings' rows may be written by the engine at the same moment (their end states),
    and PostgreSQL then aborts one of the two transactions as a deadlock: this one tries again."""
    for attempt in range(attempts):
        try:
            await database_sync_to_async(message_select)(owner=owner_id, message_id=message_id)
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))


class Tally:
    """One model's answer as its events arrive."""

    def __init__(self, generation: Generation):
        self.generation = generation
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.error: dict | None = None
        self.usage: dict = {}
        self.done: dict | None = None

    def add(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "content":
            self.content.append(event.get("content", ""))
        elif kind == "reasoning":
            self.reasoning.append(event.get("reasoning", ""))
        elif kind == "error":
            self.error = event
        elif kind == "usage":
            self.usage = {k: v for k, v in event.items() if k not in ("type", "seq", "model", "message_id",
                                                                       "generation_id")}
        elif kind == "done":
            self.done = event

    def response(self) -> dict:
        model = self.generation.model
        done = self.done or {}
        return {
            "model": model,
            "provider": model.split("/", 1)[0],
            "content": "".join(self.content),
            "reasoning": "".join(self.reasoning),
            "error": self.error.get("message") if self.error else None,
            "error_code": self.error.get("code") if self.error else None,
            "status": done.get("status"),
            "latency_ms": done.get("latency_ms"),
            "ttft_ms": done.get("ttft_ms"),
            "usage": self.usage,
            "message_id": str(self.generation.message_id),
            "generation_id": str(self.generation.id),
        }


def tag(event: dict, generation: Generation) -> dict:
    """A generation's event as a compare event: its own `seq`, plus which model and message it belongs to."""
    return tagged(event, model=generation.model, message_id=str(generation.message_id),
                  generation_id=str(generation.id))


async def compare_events(run: CompareRun, *, after: dict[str, int] | None = None) -> AsyncIterator[dict]:
    """Every generation's events, tagged, interleaved as they arrive; ends after the last `done`.

    Closing it leaves the generations running.
    """
    from chats.generations import generation_events

    queue: asyncio.Queue = asyncio.Queue()
    after = after or {}

    async def pump(generation: Generation):
        try:
            async for event in generation_events(generation.id, after=after.get(str(generation.id), 0)):
                await queue.put(tag(event, generation))
        finally:
            await queue.put(None)

    pumps = [asyncio.create_task(pump(g)) for g in run.generations]
    remaining = len(pumps)
    try:
        while remaining:
            event = await queue.get()
            if event is None:
                remaining -= 1
                continue
            yield event
    finally:
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def compare_collect(run: CompareRun) -> list[dict]:
    """Wait for every model and return their answers in the order the models were given."""
    tallies = {str(g.id): Tally(g) for g in run.generations}
    async with contextlib.aclosing(compare_events(run)) as events:
        async for event in events:
            tallies[event["generation_id"]].add(event)
    return [tally.response() for tally in tallies.values()]


def _selected_message_id(run: CompareRun) -> str | None:
    selected = Message.objects.filter(reply_to=run.user_message, selected=True).values_list("id", flat=True).first()
    return str(selected) if selected else None


async def compare_selection(run: CompareRun) -> str | None:
    """The answer the conversation continues from, once every model is done (call after following to the end)."""
    if run.selector is not None:
        with contextlib.suppress(Exception):
            await asyncio.shield(run.selector)
    return await sync_to_async(_selected_message_id)(run)


def compare_group(*, user, group_id) -> CompareRun:
    """An earlier compare of this user's, to follow again (WebSocket)."""
    from django.http import Http404

    from merging.selectors import valid_uuids

    generations = list(
        Generation.objects.filter(owner=user, group_id__in=valid_uuids([str(group_id)]))
        .select_related("conversation", "message", "message__reply_to").order_by("created_at")
    )
    if not generations or generations[0].message is None:
        raise Http404("No such compare.")
    first = generations[0]
    return CompareRun(first.conversation, first.message.reply_to, first.group_id, generations)


def compare_estimate(*, user, prompt: str, models: list[str] | None, conversation_id=None) -> list[dict]:
    """SPEC §10: per model, the prompt's tokens (with the conversation's history) and cost, and the cost with the
    model's maximum completion, before anything runs; null costs for a model whose price is unknown."""
    from chats.generations import chat_history
    from providers.base import ChatMessage, ChatRequest
    from providers.pricing import model_prices
    from usage.services import request_tokens

    models = compare_models_validate(user_id=user.pk, models=models)
    history, system, params = [], "", {}
    if conversation_id is not None:
        conversation = Conversation.objects.filter(owner=user, pk=conversation_id).first()
        if conversation is None:
            raise InvalidRequest("Conversation not found.", code="not_found", status_code=404)
        history = chat_history(conversation=conversation, up_to=None)
        system, params = conversation.system_prompt, dict(conversation.params or {})
    request = ChatRequest(messages=[*history, ChatMessage(role=MessageRole.USER, content=prompt)], system=system)
    prompt_tokens = request_tokens(request)
    estimates = []
    for model in models:
        prices = model_prices(model, user_id=user.pk)
        completion = (_positive_int(params.get("max_tokens")) or (prices and prices.max_completion_tokens)
                      or settings.PARLEY_ESTIMATE_MAX_COMPLETION_TOKENS)
        estimates.append({
            "model": model, "prompt_tokens": prompt_tokens, "max_completion_tokens": completion,
            "prompt_cost": float(prices.cost({"prompt_tokens": prompt_tokens})) if prices else None,
            "max_cost": float(prices.cost({"prompt_tokens": prompt_tokens, "completion_tokens": completion}))
            if prices else None,
        })
    return estimates


def _positive_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
