"""Usage rows as model calls start and end, and the budget check that runs before any provider call starts."""
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from providers import pricing
from usage import selectors
from usage.errors import BudgetExceeded
from usage.models import CostSource, UsageKind, UsageRecord, UsageStatus, UserBudget

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")


def request_tokens(request) -> int:
    """The estimated prompt tokens of a ChatRequest: its system prompt and every message's text."""
    parts = [request.system or ""]
    for message in request.messages:
        parts.append(message.content or "")
        parts.extend(attachment.text for attachment in message.attachments if attachment.text)
    return sum(pricing.estimate_tokens(part) for part in parts) + 3 * len(request.messages)


# --- budgets ---------------------------------------------------------------------------------------------------------


def budget_check(*, user_id: int) -> None:
    """BudgetExceeded if the user's month-to-date cost has reached their budget (read only: for calls that are
    recorded when they end, such as a merge job being queued)."""
    limit = selectors.budget_limit(user_id=user_id)
    if limit is not None:
        spent = selectors.month_to_date_cost(user_id=user_id)
        if spent >= limit:
            raise BudgetExceeded(spent=spent, limit=limit)


def _lock_budget(user_id: int) -> Decimal | None:
    """Take the user's budget row (made on first use) for this transaction; their limit. Concurrent starts of one
    user queue here, so each sees the reservations of the ones before it."""
    UserBudget.objects.get_or_create(user_id=user_id)
    budget = UserBudget.objects.select_for_update().get(user_id=user_id)
    return budget.monthly_budget if budget.monthly_budget is not None else selectors.default_budget()


def usage_reserve(*, user_id: int, model: str, request, generation_id, conversation_id=None,
                  compare: bool = False) -> UsageRecord:
    """`usage_reservation`, its row stored now."""
    record = usage_reservation(user_id=user_id, model=model, request=request, generation_id=generation_id,
                               conversation_id=conversation_id, compare=compare)
    if record._state.adding:
        record.save(force_insert=True)
    return record


def usage_reservation(*, user_id: int, model: str, request, generation_id=None, conversation_id=None,
                      compare: bool = False, kind: str | None = None, **fields) -> UsageRecord:
    """Before a model call starts (a reply, a compare answer, a merge call, a gateway call, a stateless stream):
    refuse it (BudgetExceeded) if the month's cost, counting the calls still running at their prompt's estimated
    cost, has reached the budget; else its row as `running`, reserving its prompt's cost. With a budget the row is
    stored at once, atomically per user (a burst of starts checks one at a time); without one nothing needs the
    lock, and the row comes back unsaved: a reply's start inserts it with its other rows
    (chats.generations.planning), a call's end inserts it priced (`call_usage_record`). `fields`: the row's token,
    via, stream or merge job."""
    limited = selectors.budget_limit(user_id=user_id) is not None
    prompt_tokens = request_tokens(request)
    reserved = None
    if limited or generation_id is not None:  # an unstored call row is only a marker: it needs no price
        prices = pricing.model_prices(model, user_id=user_id)
        reserved = prices.cost({"prompt_tokens": prompt_tokens}) if prices is not None else None
    record = UsageRecord(
        owner_id=user_id, kind=kind or (UsageKind.COMPARE if compare else UsageKind.REPLY), model=model,
        provider=model.partition("/")[0], status=UsageStatus.RUNNING, conversation_id=conversation_id,
        generation_id=generation_id, prompt_tokens=prompt_tokens, reserved=reserved, **fields)
    if not limited:
        return record
    with transaction.atomic():
        limit = _lock_budget(user_id)
        if limit is not None:
            spent = selectors.month_to_date_cost(user_id=user_id)
            if spent >= limit:
                raise BudgetExceeded(spent=spent, limit=limit)
        record.save(force_insert=True)
    return record


def usage_release(*, generation_id=None, record: UsageRecord | None = None) -> None:
    """A start refused after its reservation (409, a failed insert), or a call that never reached its provider:
    it cost nothing. Takes the reply's generation id, or the reservation itself (nothing to do if never stored)."""
    if record is not None:
        if not record._state.adding:
            UsageRecord.objects.filter(pk=record.pk, status=UsageStatus.RUNNING).delete()
        return
    UsageRecord.objects.filter(generation_id=generation_id, status=UsageStatus.RUNNING).delete()


@dataclass(slots=True)
class Priced:
    usage: dict
    cost: Decimal | None
    cost_source: str


def _ended_early(reported: dict, *, status: str, written: int) -> bool:
    """Whether the provider's usage misses what the call did: none came, or only the prompt's count (told as the
    stream began) because the call ended before the provider's usage at its end."""
    if reported["completion_tokens"]:
        return False
    return not reported["prompt_tokens"] or status != UsageStatus.COMPLETE or written > 0


def _estimated(model: str, reported: dict, *, prompt_estimate: int, text: str, reasoning: str,
               owner_id: int | None) -> tuple[dict, Decimal | None, str]:
    """The tokens the provider told (the prompt's, when it did), the rest estimated: the prompt's from the request,
    the completion's from the text received; priced as `estimated`."""
    figures = {"prompt_tokens": reported["prompt_tokens"] or prompt_estimate,
               "completion_tokens": pricing.estimate_tokens(text) + pricing.estimate_tokens(reasoning),
               "reasoning_tokens": pricing.estimate_tokens(reasoning), "cached_tokens": reported["cached_tokens"]}
    prices = pricing.model_prices(model, user_id=owner_id)
    cost = prices.cost(figures) if prices is not None else None
    return figures, cost, CostSource.ESTIMATED if cost is not None else ""


def reply_usage_record(*, generation_id, model: str, status: str, usage: dict,
                       cost: Decimal | None, cost_source: str = "", text: str = "", reasoning: str = "",
                       error_code: str = "", latency_ms: int | None = None) -> Priced:
    """When a reply ends (completed, cancelled, failed, interrupted): its row with the provider's usage; a reply
    that ended before the provider's usage came is priced from what it was told (its prompt's tokens), the rest
    estimated from its text. Returns what to store on the reply."""
    record = UsageRecord.objects.filter(generation_id=generation_id).first()
    owner_id = record.owner_id if record is not None else None
    reported = {key: int(usage.get(key) or 0) for key in TOKEN_FIELDS}
    written = pricing.estimate_tokens(text) + pricing.estimate_tokens(reasoning)
    if _ended_early(reported, status=status, written=written):
        figures, cost, cost_source = _estimated(model, reported, text=text, reasoning=reasoning, owner_id=owner_id,
                                                prompt_estimate=record.prompt_tokens if record is not None else 0)
        if not (figures["prompt_tokens"] or figures["completion_tokens"]):
            figures = {}
    else:
        if cost is None:
            cost, cost_source = pricing.price_usage(model, reported, user_id=owner_id)
        cost_source = cost_source or (CostSource.CATALOG if cost is not None else "")
        figures = reported
    fields = {**{key: (figures or {}).get(key, 0) for key in TOKEN_FIELDS}, "cost": cost, "cost_source": cost_source,
              "status": status, "error_code": error_code[:64], "latency_ms": latency_ms, "reserved": None,
              "finished_at": timezone.now()}
    if record is not None:  # every start reserves its row; one started before this app existed has none
        UsageRecord.objects.filter(pk=record.pk).update(**fields)
    stored = dict(figures, cost_source=cost_source) if figures else {}
    return Priced(usage=stored, cost=cost, cost_source=cost_source)


def call_usage_record(*, kind: str, owner_id: int, model: str, status: str, usage: dict | None,
                      error_code: str = "", latency_ms: int | None = None, token_id: int | None = None,
                      via: str = "", stream: bool = False, merge_job_id=None, request=None,
                      text: str = "", reservation: UsageRecord | None = None) -> UsageRecord:
    """One finished gateway, merge or stateless call, priced from its usage (already priced by the gateway when it
    came); ended before the provider's usage came, priced from what it was told and estimated from its `request`
    and the `text` it got, when given. A call that reserved its row (`usage_reservation`, stored under a budget)
    settles that row instead of adding one."""
    usage = usage or {}
    figures = {key: int(usage.get(key) or 0) for key in TOKEN_FIELDS}
    cost, source = usage.get("cost"), usage.get("cost_source") or ""
    if cost is not None:
        cost, source = Decimal(str(cost)), source or CostSource.PROVIDER
    elif request is not None and _ended_early(figures, status=status, written=pricing.estimate_tokens(text)):
        figures, cost, source = _estimated(model, figures, prompt_estimate=request_tokens(request), text=text,
                                           reasoning="", owner_id=owner_id)
    elif figures["prompt_tokens"] or figures["completion_tokens"]:
        cost, source = pricing.price_usage(model, figures, user_id=owner_id)
    fields = dict(status=status, error_code=error_code[:64], latency_ms=latency_ms, cost=cost,
                  cost_source=source if cost is not None else "", finished_at=timezone.now(), reserved=None,
                  token_id=token_id, via=via, stream=stream, merge_job_id=merge_job_id, **figures)
    if reservation is not None and not reservation._state.adding:
        UsageRecord.objects.filter(pk=reservation.pk).update(**fields)
        for name, value in fields.items():
            setattr(reservation, name, value)
        return reservation
    return UsageRecord.objects.create(owner_id=owner_id, kind=kind, model=model, provider=model.partition("/")[0],
                                      **fields)


def user_budget_set(*, user_id: int, monthly_budget: Decimal | None) -> UserBudget:
    budget, _ = UserBudget.objects.update_or_create(user_id=user_id, defaults={"monthly_budget": monthly_budget})
    return budget
