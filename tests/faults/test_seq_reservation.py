"""A crash never renumbers what a client saw (issue 11, SPEC §12): a run hands its followers only seqs the database
has reserved for it, so the repair of a crashed run ends its log after every seq a client may have received, and
a client resuming past the stored log gets a `snapshot` of the stored text, then the stored end."""
import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async

from chats.generations.following import generation_events
from chats.generations.persistence import persister_for
from chats.generations.repair import close_orphan
from chats.generations.state import RUNS, Run, Subscriber
from chats.models import Generation, GenerationSlice, GenerationStatus, Message, MessageStatus
from chats.services import conversation_create, message_create
from core import events

pytestmark = pytest.mark.django_db(transaction=True)


def _stored_reply(user) -> Generation:
    """A reply's rows as a start stores them (the model's defaults, nothing set by hand)."""
    conversation = conversation_create(owner=user, default_model="openai/story-3-0")
    prompt = message_create(conversation=conversation, content="hello")
    message = Message.objects.create(conversation=conversation, role="assistant", status=MessageStatus.STREAMING,
                                     reply_to=prompt, model="openai/story-3-0")
    return Generation.objects.create(owner=user, conversation=conversation, message=message,
                                     model="openai/story-3-0", status=GenerationStatus.RUNNING)


def _logged(generation_id) -> list[dict]:
    return [event for events_ in GenerationSlice.objects.filter(generation_id=generation_id)
            .order_by("first_seq").values_list("events", flat=True) for event in events_]


async def _crash_mid_reply(user) -> tuple[Generation, list[dict]]:
    """Run a reply on this loop with a follower, burst tokens faster than the slices, then stop everything at once
    as SIGKILL does (nothing more is written); returns the generation and what the follower received."""
    generation = await sync_to_async(_stored_reply)(user)
    loop = asyncio.get_running_loop()
    run = Run(generation_id=str(generation.pk), message_id=str(generation.message_id),
              conversation_id=str(generation.conversation_id), lock_key=str(generation.pk), model=generation.model,
              loop=loop, persister=persister_for(loop))
    RUNS[run.generation_id] = run
    follower = Subscriber(loop)
    run.subscribe(follower, 0)
    run.mark_stored(True)
    run.emit(events.start(seq=1, generation_id=run.generation_id, message_id=run.message_id, model=run.model))
    run.persister.ensure_running()
    words = iter(f"w{i} " for i in range(1, 10_000))

    def burst(count: int) -> None:
        for _ in range(count):
            text = next(words)
            run.content.append(text)
            run.emit(events.content(seq=run.seq + 1, text=text))

    received: list[dict] = []
    try:
        # More tokens in one slice than any reservation made ahead: some wait for the next one.
        burst(600)
        logged_to = 0
        while logged_to < 601:
            received += await follower.next_batch(5.0)
            logged_to = await sync_to_async(lambda: max([e["seq"] for e in _logged(generation.pk)], default=0))()
        received += await follower.next_batch(0)
        # Then tokens the client sees but no slice holds yet: the crash comes before the next slice.
        burst(40)
        received += await follower.next_batch(0)
    finally:
        RUNS.pop(run.generation_id, None)
        task = run.persister.task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert received and [e["seq"] for e in received] == list(range(1, len(received) + 1))
    return generation, received


async def test_the_repair_of_a_crashed_reply_ends_its_log_past_every_seq_a_follower_received(user):
    generation, received = await _crash_mid_reply(user)
    assert max(e["seq"] for e in received) > max(e["seq"] for e in await sync_to_async(_logged)(generation.pk))
    assert await sync_to_async(close_orphan)(generation.pk, status=GenerationStatus.INTERRUPTED) == 1

    logged = await sync_to_async(_logged)(generation.pk)
    ends = [e for e in logged if e["type"] in ("error", "done")]
    assert [e["type"] for e in ends] == ["error", "done"]
    assert min(e["seq"] for e in ends) > max(e["seq"] for e in received)
    message = await Message.objects.aget(pk=generation.message_id)
    stored_text = "".join(e["content"] for e in logged if e["type"] == "content")
    assert (message.status, message.content) == ("interrupted", stored_text)
    assert "".join(e["content"] for e in received if e["type"] == "content").startswith(stored_text)
    # Nothing was handed out past what the database had reserved when the process died.
    reserved = await Generation.objects.values_list("reserved_seq", flat=True).aget(pk=generation.pk)
    assert max(e["seq"] for e in received) <= reserved < min(e["seq"] for e in ends)


async def test_a_client_resuming_past_the_stored_log_gets_a_snapshot_then_the_stored_end(user):
    generation, received = await _crash_mid_reply(user)
    await sync_to_async(close_orphan)(generation.pk, status=GenerationStatus.INTERRUPTED)
    last_seen = received[-1]["seq"]

    resumed = [event async for event in generation_events(generation.pk, after=last_seen)]

    message = await Message.objects.aget(pk=generation.message_id)
    assert [e["type"] for e in resumed] == ["snapshot", "error", "done"]
    assert (resumed[0]["content"], resumed[0]["reasoning"]) == (message.content, message.reasoning)
    assert "seq" not in resumed[0]  # not a logged event: the resume point stays the client's last seq
    assert last_seen < resumed[1]["seq"] < resumed[2]["seq"]
    assert (resumed[1]["code"], resumed[2]["status"]) == ("interrupted", "interrupted")


async def test_a_client_resuming_within_the_stored_log_replays_it_without_a_snapshot(user):
    generation, _received = await _crash_mid_reply(user)
    await sync_to_async(close_orphan)(generation.pk, status=GenerationStatus.INTERRUPTED)

    replayed = [event async for event in generation_events(generation.pk, after=0)]

    message = await Message.objects.aget(pk=generation.message_id)
    assert [e["type"] for e in replayed if e["type"] != "content"] == ["start", "error", "done"]
    assert "".join(e["content"] for e in replayed if e["type"] == "content") == message.content
    seqs = [e["seq"] for e in replayed]
    assert seqs == sorted(set(seqs))


async def test_a_client_resuming_past_the_end_of_a_finished_reply_gets_the_snapshot_and_the_end(user):
    generation, _received = await _crash_mid_reply(user)
    await sync_to_async(close_orphan)(generation.pk, status=GenerationStatus.INTERRUPTED)
    done = (await sync_to_async(_logged)(generation.pk))[-1]

    # A client that saw the end gets nothing again (and no endless pings)...
    assert [event async for event in generation_events(generation.pk, after=done["seq"])] == []
    # ...one past it (a seq from nowhere in this log) gets what is stored, and an end, instead of an empty stream.
    resumed = [event async for event in generation_events(generation.pk, after=done["seq"] + 5)]
    assert [e["type"] for e in resumed] == ["snapshot", "done"]
    assert resumed[1] == done

