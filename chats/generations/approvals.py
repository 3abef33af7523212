"""Approval mode `ask`: a tool call waits for the user's answer, given in any process, through the database."""
import asyncio
import time

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from chats.models import ToolApproval
from chats.selectors import ACTIVE, generation_get
from core.db_workers import db_call

# How often a waiting call reads its row: the answer may come from another process, which cannot wake it here.
POLL_SECONDS = 0.5

# Calls of this process waiting for an answer: (generation id, call id) → the event that wakes them.
_waiters: dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}


class NoPendingApproval(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "That tool call is not waiting for an answer."
    default_code = "no_pending_approval"


def _ask(generation_id: str, call_id: str, name: str) -> None:
    ToolApproval.objects.get_or_create(generation_id=generation_id, call_id=call_id, defaults={"name": name[:200]})


def _decision(generation_id: str, call_id: str) -> bool | None:
    return ToolApproval.objects.filter(generation_id=generation_id, call_id=call_id).values_list(
        "approved", flat=True).first()


def _expire(generation_id: str, call_id: str) -> bool | None:
    """Refuse the call if nobody answered it yet; the answer it ends with (an approval may have just come)."""
    ToolApproval.objects.filter(generation_id=generation_id, call_id=call_id, approved__isnull=True).update(
        approved=False, decided_at=timezone.now())
    return _decision(generation_id, call_id)


async def approval_wait(*, generation_id: str, call_id: str, name: str, announce, stored=None) -> bool:
    """Store the call as waiting, `announce()` it (emits `tool_approval`), and wait for the user's answer: True to
    run it. No answer within PARLEY_TOOL_APPROVAL_TIMEOUT is a refusal. `stored` (the run's future saying whether
    its rows exist) is awaited first: a reply starts before its rows are committed, and the call's row needs them."""
    if stored is not None and not await asyncio.shield(stored):
        return False
    await db_call(_ask, generation_id, call_id, name)
    announce()
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    _waiters[(generation_id, call_id)] = (loop, wake)
    deadline = time.monotonic() + settings.PARLEY_TOOL_APPROVAL_TIMEOUT
    try:
        while True:
            decided = await db_call(_decision, generation_id, call_id)
            if decided is not None:
                return decided
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return bool(await db_call(_expire, generation_id, call_id))
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), min(POLL_SECONDS, remaining))
            except TimeoutError:
                pass
    finally:
        _waiters.pop((generation_id, call_id), None)


def tool_approval_decide(*, user, call_id: str, approve: bool, generation_id=None, conversation=None) -> dict:
    """Answer a waiting call of the user's generation (`generation_id`) or of the conversation's (the WebSocket
    frame names only the call). 404 for another user's generation; 409 `no_pending_approval` if the call is not
    waiting (unknown, answered, timed out, or its reply has ended)."""
    if generation_id is not None:
        generation = generation_get(user=user, generation_id=generation_id)
        pending = ToolApproval.objects.filter(generation=generation)
    else:
        pending = ToolApproval.objects.filter(generation__conversation=conversation, generation__owner=user)
    pending = pending.filter(call_id=call_id, approved__isnull=True, generation__status__in=ACTIVE)
    row = pending.values_list("pk", "generation_id").first()
    if row is None or not ToolApproval.objects.filter(pk=row[0], approved__isnull=True).update(
            approved=bool(approve), decided_at=timezone.now()):
        raise NoPendingApproval()
    _wake(str(row[1]), call_id)
    return {"id": call_id, "approve": bool(approve)}


def _wake(generation_id: str, call_id: str) -> None:
    """Wake the waiting call at once when it runs in this process (elsewhere it reads its row within POLL_SECONDS)."""
    waiting = _waiters.get((generation_id, call_id))
    if waiting is not None:
        loop, wake = waiting
        loop.call_soon_threadsafe(wake.set)
