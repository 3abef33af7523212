"""Talks to the merge model: condenses long sources in stages, then merges or fuses them."""
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from merging import prompts
from merging.parsing import MergeParseError, ParsedMessage, parse_merge_output
from providers.base import ChatMessage, ChatRequest, Route
from providers.events import EventKind

logger = logging.getLogger("parley.merging")

DEFAULT_CONTEXT_TOKENS = 32_768
MAX_CONDENSE_STAGES = 4


class MergeFailed(Exception):
    """The merge cannot produce a result; `raw_output` is the model's last answer, if any."""

    def __init__(self, message: str, *, code: str = "merge_failed", raw_output: str = ""):
        super().__init__(message)
        self.message, self.code, self.raw_output = message, code, raw_output


class Reporter:
    """What a running merge tells the outside world; the job service persists and broadcasts it."""

    async def stage(self, text: str, progress: int) -> None: ...

    async def output_started(self) -> None: ...

    async def output_delta(self, text: str) -> None: ...


def estimate_tokens(text: str) -> int:
    # About four characters per token for English prose; close enough to budget with a margin.
    return len(text) // 4 + 1


@dataclass(slots=True)
class ModelLimits:
    context_tokens: int
    structured_output: bool

    @property
    def input_budget(self) -> int:
        """Tokens the sources may take in one request, leaving room for instructions and the answer."""
        share = getattr(settings, "PARLEY_MERGE_INPUT_SHARE", 0.45)
        overhead = estimate_tokens(prompts.MERGE_SYSTEM + prompts.JSON_FORMAT) + 200
        return max(int(self.context_tokens * share) - overhead, 200)


def model_limits(model: str) -> ModelLimits:
    """The merge model's context length and structured-output support from the catalog; defaults if unknown."""
    from providers.models import CatalogModel

    entry = CatalogModel.objects.filter(id=model).only("context_length", "capabilities").first()
    default = getattr(settings, "PARLEY_MERGE_DEFAULT_CONTEXT", DEFAULT_CONTEXT_TOKENS)
    if entry is None:
        return ModelLimits(default, False)
    capabilities = {str(c).lower() for c in (entry.capabilities or [])}
    return ModelLimits(entry.context_length or default, bool(capabilities & {"structured_output", "json"}))


async def _ask(route: Route, request: ChatRequest, on_delta: Callable[[str], Awaitable[None]] | None = None) -> str:
    """One model call of the merge: reserved against the owner's budget before it starts (BudgetExceeded once the
    month is used up), settled with what it cost when it ends."""
    from providers import gateway

    reservation = await _reserve_call(route, request)
    parts, usage, status = [], {}, "failed"
    try:
        async for event in gateway.stream_chat(route, request):
            if event.kind == EventKind.TEXT and event.text:
                parts.append(event.text)
                if on_delta is not None:
                    await on_delta(event.text)
            elif event.kind == EventKind.USAGE:
                usage = dict(event.data)
        status = "complete"
    except asyncio.CancelledError:
        status = "cancelled"
        raise
    finally:
        await asyncio.shield(_record_call(route, request, usage, status, "".join(parts), reservation))
    return "".join(parts)


async def _reserve_call(route: Route, request: ChatRequest):
    from usage.models import UsageKind
    from usage.services import usage_reservation

    if route.user_id is None:
        return None
    return await sync_to_async(usage_reservation)(user_id=route.user_id, model=route.model, request=request,
                                                  kind=UsageKind.MERGE)


async def _record_call(route: Route, request: ChatRequest, usage: dict, status: str, text: str, reservation) -> None:
    """Each model call of a merge is a usage row of its owner's (estimated from the text when no usage came): the
    row it reserved, settled."""
    from usage.models import UsageKind
    from usage.services import call_usage_record

    if route.user_id is None:
        return
    try:
        await sync_to_async(call_usage_record)(kind=UsageKind.MERGE, owner_id=route.user_id, model=route.model,
                                               status=status, usage=usage, request=request, text=text,
                                               reservation=reservation)
    except Exception:
        logger.exception("Recording the usage of a merge call to %s failed", route.model)


def _split(messages: list[prompts.SourceMessage], budget: int) -> list[list[prompts.SourceMessage]]:
    """Consecutive runs of messages of at most `budget` tokens; a longer message is cut into pieces."""
    max_chars = budget * 4
    pieces: list[prompts.SourceMessage] = []
    for message in messages:
        text = message.content
        while len(text) > max_chars:
            cut = text.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            pieces.append(prompts.SourceMessage(message.role, text[:cut], "", message.message_id))
            text = text[cut:].lstrip()
        pieces.append(prompts.SourceMessage(message.role, text, message.reasoning[:max_chars], message.message_id))
    chunks, current, size = [], [], 0
    for piece in pieces:
        cost = estimate_tokens(piece.content + piece.reasoning) + 4
        if current and size + cost > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(piece)
        size += cost
    if current:
        chunks.append(current)
    return chunks


def _total_tokens(sources: list[prompts.SourceConversation]) -> int:
    return sum(estimate_tokens(source.render()) for source in sources)


async def condense_sources(route: Route, sources: list[prompts.SourceConversation], limits: ModelLimits,
                           reporter: Reporter) -> list[prompts.SourceConversation]:
    """Condense the sources, stage by stage, until together they fit the merge model's input budget."""
    budget = limits.input_budget
    stage = 0
    while _total_tokens(sources) > budget:
        stage += 1
        if stage > MAX_CONDENSE_STAGES:
            raise MergeFailed(
                f"The conversations are too long for {route.model} even after {MAX_CONDENSE_STAGES} condensing "
                "stages; choose a model with a larger context.", code="too_long")
        share = max(budget // len(sources), 100)
        before = _total_tokens(sources)
        condensed_any = False
        for source in sources:
            if estimate_tokens(source.render()) <= share:
                continue
            chunks = _split(source.messages, budget)
            new_messages: list[prompts.SourceMessage] = []
            for number, chunk in enumerate(chunks, start=1):
                await reporter.stage(
                    f"Condensing conversation {source.label} (stage {stage}, part {number} of {len(chunks)})",
                    min(5 + stage * 10, 45))
                request = ChatRequest(
                    messages=[ChatMessage("user", prompts.condense_user_prompt(
                        source, chunk, part=number, parts=len(chunks)))],
                    system=prompts.CONDENSE_SYSTEM,
                )
                answer = await _ask(route, request)
                try:
                    parsed = parse_merge_output(answer)
                    new_messages += [prompts.SourceMessage(m.role, m.content, m.reasoning) for m in parsed]
                except MergeParseError:
                    # A summary that lost its tags still carries the content; keep it as a note.
                    if answer.strip():
                        new_messages.append(prompts.SourceMessage("assistant", answer.strip()))
            source.messages = new_messages or source.messages
            condensed_any = True
        if not condensed_any or _total_tokens(sources) >= before:
            raise MergeFailed(
                f"Condensing did not make the conversations shorter; they do not fit {route.model}'s context.",
                code="too_long")
        logger.info("Merge condensing stage %s: %s -> %s tokens (budget %s)", stage, before,
                    _total_tokens(sources), budget)
    return sources


async def _answer_with_retry(route: Route, request: ChatRequest, reporter: Reporter, parse, retry_note: str):
    """Ask, parse; on an unparseable answer ask once more, then give up keeping the raw answer."""
    answer = ""
    for attempt in (1, 2):
        await reporter.output_started()
        answer = await _ask(route, request, reporter.output_delta)
        try:
            return parse(answer), answer
        except MergeParseError as exc:
            logger.info("Merge answer unparseable (attempt %s): %s", attempt, exc)
            if attempt == 1:
                await reporter.stage("The answer could not be parsed; asking the model again", 60)
                # A fresh request with a stricter note: the unparseable answer is not worth its context.
                last = request.messages[-1]
                request = ChatRequest(
                    messages=[*request.messages[:-1], ChatMessage("user", f"{last.content}\n\n{retry_note}")],
                    system=request.system, params=request.params,
                )
    raise MergeFailed("The merge model's answer could not be parsed, twice; its raw answer is kept.",
                      code="unparseable", raw_output=answer)


async def merge_conversations(route: Route, sources: list[prompts.SourceConversation], *, instructions: str,
                              limits: ModelLimits, reporter: Reporter) -> tuple[list[ParsedMessage], str]:
    sources = await condense_sources(route, sources, limits, reporter)
    await reporter.stage("Merging", 50)
    request = ChatRequest(
        messages=[ChatMessage("user", prompts.merge_user_prompt(
            sources, instructions=instructions, structured=limits.structured_output))],
        system=prompts.MERGE_SYSTEM,
    )
    return await _answer_with_retry(route, request, reporter, parse_merge_output, prompts.RETRY_NOTE)


def _parse_fused(text: str) -> str:
    if not text.strip():
        raise MergeParseError("The fused answer is empty.")
    return text.strip()


async def fuse_answers(route: Route, question: str, answers: list[tuple[str, str]], *, instructions: str,
                       limits: ModelLimits, reporter: Reporter) -> tuple[str, str]:
    prompt = prompts.fuse_user_prompt(question, answers, instructions=instructions)
    if estimate_tokens(prompt) > limits.input_budget:
        # Long answers are condensed one by one, never cut.
        condensed = []
        for index, (model, content) in enumerate(answers, start=1):
            source = prompts.SourceConversation(str(index), "", model, [prompts.SourceMessage("assistant", content)])
            [source] = await condense_sources(
                route, [source], ModelLimits(limits.context_tokens // max(len(answers), 1), False), reporter)
            condensed.append((model, "\n\n".join(m.content for m in source.messages)))
        prompt = prompts.fuse_user_prompt(question, condensed, instructions=instructions)
    await reporter.stage("Fusing", 50)
    request = ChatRequest(messages=[ChatMessage("user", prompt)], system=prompts.FUSE_SYSTEM)
    return await _answer_with_retry(route, request, reporter, _parse_fused, prompts.FUSE_RETRY_NOTE)
