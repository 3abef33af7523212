"""The `parley/fusion` virtual model: ask several models at once, then have a judge fuse their answers into one."""
import asyncio

from core.db_workers import db_call
from merging.prompts import FUSE_SYSTEM, fuse_user_prompt
from openai_api.errors import GatewayError
from openai_api.models import FUSION_MODEL
from openai_api.services import Caller, CallMeter, calls_reserve, complete, reservations_release, route_for
from openai_api.translation import CompletionRequest
from providers.base import ChatMessage, ChatRequest, Route

# What the judge may be given of the caller's params: its own answer's length and sampling.
JUDGE_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "reasoning_effort", "response_format")


def fusion_start(*, caller: Caller, request: CompletionRequest) -> tuple[list[tuple[Route, object]], Route, object]:
    """Every model and the judge resolved before anything runs (one unusable model refuses the whole request), then
    all of their calls reserved at once (402 once the budget is used up); the judge's at the question's cost, as
    its prompt is not written yet."""
    routes = [route_for(caller=caller, model=model, request=request) for model in request.fusion["models"]]
    judge = route_for(caller=caller, model=request.fusion["judge"], request=request)
    *reservations, judge_reservation = calls_reserve(
        caller=caller, calls=[(route, request.chat) for route in [*routes, judge]], via=FUSION_MODEL,
        stream=request.stream)
    return list(zip(routes, reservations, strict=True)), judge, judge_reservation


async def _answer(caller: Caller, route: Route, reservation, chat: ChatRequest) -> tuple[str, str, str]:
    """(model, answer, "") or (model, "", why it failed): one failing model never fails the fusion."""
    meter = CallMeter(caller, route.model, via=FUSION_MODEL, reservation=reservation)
    try:
        result = await complete(meter, route, chat)
    except GatewayError as exc:
        return route.model, "", exc.message
    if not result.text.strip():
        return route.model, "", "it gave an empty answer"
    return route.model, result.text, ""


async def fusion_judge_request(*, caller: Caller, request: CompletionRequest) -> tuple[Route, ChatRequest, object]:
    """Ask every listed model concurrently (each call recorded), then build the judge's request over the answers;
    the judge's reservation comes back with it (given back if the judge is never asked)."""
    models, judge, judge_reservation = await db_call(fusion_start, caller=caller, request=request)
    try:
        results = await asyncio.gather(*(_answer(caller, route, reservation, request.chat)
                                         for route, reservation in models))
        answers = [(model, text) for model, text, error in results if not error]
        failures = [f"{model} ({error})" for model, _, error in results if error]
        if not answers:
            raise GatewayError("Every model of the fusion failed: " + "; ".join(failures), status=502,
                               code="fusion_failed", retryable=False)
    except BaseException:
        # Shielded: a client that goes away cancels the request, not giving back what it reserved.
        await asyncio.shield(asyncio.ensure_future(db_call(reservations_release, [judge_reservation])))
        raise
    note = ""
    if failures:
        note = ("These models were asked too but failed, so their answers are missing; do not guess what they "
                "would have said: " + "; ".join(failures) + ".")
    prompt = fuse_user_prompt(request.question, answers, instructions=note)
    params = {name: request.chat.params[name] for name in JUDGE_PARAMS if name in request.chat.params}
    system = FUSE_SYSTEM if not request.chat.system else f"{FUSE_SYSTEM}\n{request.chat.system}"
    return judge, ChatRequest(messages=[ChatMessage(role="user", content=prompt)], system=system,
                              params=params), judge_reservation
