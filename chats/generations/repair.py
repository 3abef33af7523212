"""Repair: store the end of generations nobody runs any more (this process stopping, or one that crashed)."""
import asyncio
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chats.generations.errors import Interrupted
from chats.generations.persistence import release_conversation
from chats.generations.state import RUNS
from chats.models import Conversation, Generation, GenerationSlice, GenerationStatus, Message
from chats.selectors import ACTIVE
from core import events
from usage.services import reply_usage_record


async def generations_shutdown(*, within: float = 5.0) -> int:
    """Stop every generation of this process and store it `interrupted` with its text so far."""
    runs = list(RUNS.values())
    for run in runs:
        run.loop.call_soon_threadsafe(run.stop, GenerationStatus.INTERRUPTED)
    by_loop: dict = {}
    for run in runs:
        if run.task is not None:
            by_loop.setdefault(run.loop, []).append(run.task)
    current = asyncio.get_running_loop()
    waits = []
    for loop, tasks in by_loop.items():
        if loop is current:
            waits.append(asyncio.wait(tasks, timeout=within))
        else:
            waiting = asyncio.run_coroutine_threadsafe(asyncio.wait(tasks, timeout=within), loop)
            waits.append(asyncio.wrap_future(waiting))
    if waits:
        await asyncio.gather(*waits, return_exceptions=True)
    for run in runs:
        if not run.finished:
            await sync_to_async(close_orphan)(run.generation_id, status=GenerationStatus.INTERRUPTED)
    return len(runs)


def generations_repair(*, stale_after: timedelta | None = None) -> int:
    """Store as `interrupted` the generations left running by a process that is gone; returns how many.

    With `stale_after`, only those whose runner has not sent a heartbeat for that long (other processes may be
    alive); without, every one not running in this process.
    """
    candidates = Generation.objects.filter(status__in=ACTIVE).exclude(pk__in=list(RUNS))
    if stale_after is not None:
        cutoff = timezone.now() - stale_after
        candidates = candidates.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    repaired = 0
    for generation_id in candidates.values_list("pk", flat=True):
        repaired += close_orphan(generation_id, status=GenerationStatus.INTERRUPTED)
    # A conversation can stay marked as streaming when its process died between the two writes.
    idle = Conversation.objects.filter(active_stream__isnull=False).exclude(
        generations__status__in=ACTIVE
    )
    idle.update(active_stream=None)
    return repaired


def close_orphan(generation_id, *, status: str) -> int:
    """Store the end of a generation nobody runs any more: its text is rebuilt from the event log (which is
    ahead of the stored text by up to a second), and a `done` event closes the log. The end is numbered after
    every seq reserved for its runner, which may have reached a client without reaching the log: no seq a client
    saw is reused (a client that resumes in that gap gets a `snapshot` of the stored text, see following.py)."""
    with transaction.atomic():
        generation = Generation.objects.select_for_update().filter(pk=generation_id, status__in=ACTIVE).first()
        if generation is None:
            return 0
        logged = [event for slice_events in GenerationSlice.objects.filter(generation=generation)
                  .order_by("first_seq").values_list("events", flat=True) for event in slice_events]
        last_seq = max(logged[-1]["seq"] if logged else 0, generation.reserved_seq, generation.last_seq)
        error = Interrupted() if status == GenerationStatus.INTERRUPTED else None
        closing = []
        if error is not None:
            closing.append(events.error(seq=last_seq + 1, **error.as_event()))
        finish_reason = "cancelled" if status == GenerationStatus.CANCELLED else ""
        closing.append(events.done(seq=last_seq + len(closing) + 1,
                                   message_id=str(generation.message_id) if generation.message_id else None,
                                   status=str(status), finish_reason=finish_reason, latency_ms=None,
                                   ttft_ms=generation.ttft_ms))
        GenerationSlice.objects.create(generation=generation, first_seq=closing[0]["seq"],
                                       last_seq=closing[-1]["seq"], events=closing)
        fields = {"status": str(status), "finish_reason": finish_reason,
                  "error_code": error.code if error else "", "error": error.message if error else ""}
        Generation.objects.filter(pk=generation.pk).update(last_seq=closing[-1]["seq"], finished_at=timezone.now(),
                                                           **fields)
        if generation.message_id:
            text = {}
            if logged:
                # A continued reply keeps the text it had before its continuation (the stored text starts with it).
                before = Message.objects.filter(pk=generation.message_id).values("content", "reasoning").first()
                text = {"content": before["content"][:generation.content_before_chars]
                        + "".join(e.get("content", "") for e in logged if e["type"] == "content"),
                        "reasoning": before["reasoning"][:generation.reasoning_before_chars]
                        + "".join(e.get("reasoning", "") for e in logged if e["type"] == "reasoning")}
            priced = reply_usage_record(
                generation_id=generation.pk, model=generation.model, status=str(status), usage=generation.usage or {},
                cost=generation.cost, text=text.get("content", ""), reasoning=text.get("reasoning", ""),
                error_code=fields["error_code"])
            Message.objects.filter(pk=generation.message_id).update(**fields, **text, usage=priced.usage,
                                                                    cost=priced.cost)
        if generation.conversation_id:
            release_conversation(conversation_id=generation.conversation_id,
                                 lock_key=str(generation.group_id or generation.pk), generation_id=generation.pk)
    return 1
