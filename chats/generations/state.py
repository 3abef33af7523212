"""A running reply and its state: the run of this process, who follows it, and what the provider said so far."""
import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal

from chats.models import SEQ_RESERVATION
from core import events
from providers.events import EventKind

# Every run of this process, by generation id (str).
RUNS: dict[str, "Run"] = {}

# A run's followers get only seqs its generation has reserved in the database (Generation.reserved_seq), so a
# crash never renumbers what they saw; the persister reserves SEQ_RESERVATION more, with a slice, once fewer than
# RESERVE_MARGIN are left (one batched write every few hundred events).
RESERVE_MARGIN = SEQ_RESERVATION // 2
# Once its end is stored every seq of a run is in the log: nothing is held back any more.
ALL_STORED = 2**62


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Subscriber:
    """One follower of a run: collects events pushed to it and wakes the follower once per batch."""

    __slots__ = ("loop", "buffer", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.buffer: list[dict] = []
        self.waiter: asyncio.Future | None = None

    def push(self, event: dict) -> None:
        self.buffer.append(event)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def push_many(self, batch: list[dict]) -> None:
        for event in batch:
            self.push(event)

    async def next_batch(self, within: float) -> list[dict]:
        """The events that arrived since the last call; [] if none came within `within` seconds."""
        if not self.buffer:
            self.waiter = self.loop.create_future()
            timer = self.loop.call_later(within, _resolve, self.waiter)
            try:
                await self.waiter
            finally:
                timer.cancel()
                self.waiter = None
        batch, self.buffer = self.buffer, []
        return batch


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(eq=False)
class Run:
    """A generation running in this process: its events so far, the text it has, who is watching.

    `persister` (chats.generations.persistence.Persister) writes its events; it is told when the run has new ones.
    """

    generation_id: str
    message_id: str | None
    conversation_id: str | None
    lock_key: str | None
    model: str
    loop: asyncio.AbstractEventLoop | None = None
    persister: object = None
    accepted_at: float = field(default_factory=time.monotonic)
    events: list[dict] = field(default_factory=list)  # events[i]["seq"] == i + 1
    pending: list[dict] = field(default_factory=list)  # emitted, not yet persisted
    subscribers: set = field(default_factory=set)
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    task: asyncio.Task | None = None
    stop_reason: str = ""  # "cancelled" or "interrupted" once someone asked it to stop
    finished: bool = False
    # Publish slices on the shared channel layer only once a follower in another process asked for them.
    fan_out: bool = False
    text_seq: int = 0  # the seq up to which the message text in the database is current
    # Seqs up to this one are reserved in the database (the row's default, then the persister's): only those reach
    # followers; later events wait in `events` until the next reservation is stored.
    reserved: int = SEQ_RESERVATION
    # Resolves True once the generation's rows are committed (its slices can be written), False if refused.
    stored: asyncio.Future | None = None

    def __post_init__(self):
        self.stored = self.loop.create_future() if self.loop is not None else None

    def mark_stored(self, stored: bool) -> None:
        """Say whether the rows exist; safe from any thread."""
        def resolve():
            if not self.stored.done():
                self.stored.set_result(stored)
                if stored and self.pending:
                    self.persister.dirty.add(self)

        if _running_loop() is self.loop:
            resolve()
        else:
            self.loop.call_soon_threadsafe(resolve)

    @property
    def is_stored(self) -> bool:
        return self.stored.done() and self.stored.result()

    @property
    def seq(self) -> int:
        return len(self.events)

    def emit(self, event: dict) -> dict:
        """Record the event (numbered `seq + 1`) and hand it at once to every subscriber in this process (held
        back while its seq is past the reservation)."""
        self.events.append(event)
        self.pending.append(event)
        if len(self.events) <= self.reserved:
            for subscriber in self.subscribers:
                if subscriber.loop is self.loop:
                    subscriber.push(event)
                else:
                    subscriber.loop.call_soon_threadsafe(subscriber.push, event)
        if self.is_stored:
            self.persister.dirty.add(self)
        return event

    def end(self, done: dict) -> None:
        """The `done` event, stored with the end state (or queued with it during a database outage)."""
        self.events.append(done)
        if len(self.events) <= self.reserved:
            self._deliver([done])

    def _deliver(self, batch: list[dict]) -> None:
        for subscriber in self.subscribers:
            if subscriber.loop is self.loop:
                subscriber.push_many(batch)
            else:
                subscriber.loop.call_soon_threadsafe(subscriber.push_many, batch)

    def reservation_wanted(self) -> int | None:
        """The seq to reserve up to with the next slice, or None while enough are left."""
        if self.seq + RESERVE_MARGIN > self.reserved:
            return self.seq + SEQ_RESERVATION
        return None

    def reserve(self, upto: int) -> None:
        """The database now reserves seqs up to `upto`: hand out the events that waited for it."""
        if upto <= self.reserved:
            return
        held = self.events[self.reserved:upto]
        self.reserved = upto
        if held:
            self._deliver(held)

    def subscribe(self, subscriber: Subscriber, after: int) -> list[dict]:
        """Attach a subscriber; returns what it missed after `after`. Runs in the run's loop, so nothing slips."""
        self.subscribers.add(subscriber)
        return self.events[after:self.reserved]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def stop(self, reason: str) -> None:
        """Ask the run to end (cancel or shutdown); the provider call is closed by cancelling its task."""
        if self.finished or self.stop_reason:
            return
        self.stop_reason = reason
        if self.task is not None:
            self.task.cancel()

    def take_pending(self) -> list[dict]:
        events, self.pending = self.pending, []
        return events

    def text_snapshot(self) -> tuple[str, str | None, int, str, str]:
        """(generation id, message id, seq, content, reasoning) as of now."""
        return self.generation_id, self.message_id, self.seq, "".join(self.content), "".join(self.reasoning)


def runs_of(loop) -> list[Run]:
    return [run for run in list(RUNS.values()) if run.loop is loop]


def _ms_since(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")


class ReplyState:
    """What a reply has so far; translates each provider StreamEvent into the Parley event to emit (or None)."""

    def __init__(self, accepted_at: float):
        self.accepted_at = accepted_at
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.finished = False
        self.finish_reason = ""
        self.ttft_ms: int | None = None
        self.usage: dict = {}
        self.cost: Decimal | None = None
        self.cost_source = ""
        self.metadata: dict = {}
        self.tool_calls: list[dict] = []
        self.citations: list | None = None

    def translate(self, event, seq: int) -> dict | None:
        """The Parley event (numbered `seq`) for a provider event, or None when it only updates the state."""
        kind = event.kind
        if event.metadata:
            self.metadata.setdefault("provider", {}).update(event.metadata)
        if kind is EventKind.TEXT or kind is EventKind.REASONING:
            if not event.text:
                return None
            if self.ttft_ms is None:
                self.ttft_ms = _ms_since(self.accepted_at)
            if kind is EventKind.TEXT:
                self.content.append(event.text)
                return events.content(seq=seq, text=event.text)
            self.reasoning.append(event.text)
            return events.reasoning(seq=seq, text=event.text)
        if kind is EventKind.TOOL_CALL:
            call = {"id": event.data.get("id", ""), "name": event.data.get("name", ""),
                    "arguments": event.data.get("arguments", "")}
            self.tool_calls.append(call)
            return events.tool_call(seq=seq, **call)
        if kind is EventKind.CITATIONS:
            self.citations = event.data.get("citations") or []
            return events.citations(seq=seq, items=self.citations)
        if kind is EventKind.PROMPT_USAGE:
            # Until the usage at the end: what a reply that ends early is priced from (usage.services).
            if not self.usage:
                self.usage = {key: int(event.data.get(key) or 0) for key in USAGE_FIELDS}
            return None
        if kind is EventKind.USAGE:
            self.usage = {key: int(event.data.get(key) or 0) for key in USAGE_FIELDS}
            cost = event.data.get("cost")
            self.cost = Decimal(str(cost)) if cost is not None else None
            self.cost_source = event.data.get("cost_source") or ""
            return None
        if kind is EventKind.FINISH:
            self.finished = True
            self.finish_reason = event.data.get("finish_reason") or "stop"
        return None

    def closing_events(self, *, status: str, error, seq: int) -> list[dict]:
        """The usage and error events that precede `done`, numbered from `seq`."""
        closing = []
        if self.usage:
            closing.append(events.usage(seq=seq, prompt_tokens=self.usage.get("prompt_tokens", 0),
                                        completion_tokens=self.usage.get("completion_tokens", 0),
                                        reasoning_tokens=self.usage.get("reasoning_tokens", 0),
                                        cost=float(self.cost) if self.cost is not None else None))
        if error is not None:
            closing.append(events.error(seq=seq + len(closing), **error.as_event()))
        if status == "cancelled" and not self.finish_reason:
            self.finish_reason = "cancelled"
        return closing

    def done_event(self, *, seq: int, message_id, status: str) -> dict:
        return events.done(seq=seq, message_id=message_id, status=str(status), finish_reason=self.finish_reason,
                           latency_ms=_ms_since(self.accepted_at), ttft_ms=self.ttft_ms)
