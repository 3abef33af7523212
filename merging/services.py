"""Merge jobs: validate and queue a request, run it once however often it is delivered, write the result."""
import hashlib
import json
import logging
import re
import threading
import time
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework import exceptions

from chats.models import Conversation, Message, MessageRole, MessageStatus
from chats.tree import message_select as tree_select
from core import events
from core.dispatch import send_task
from merging import broadcast, synthesis
from merging.models import MergeHistory, MergeJob, MergeKind, MergeStatus
from merging.parsing import ParsedMessage
from merging.prompts import SourceConversation, SourceMessage
from merging.selectors import valid_uuids
from providers.errors import ProviderError
from usage.errors import BudgetExceeded

logger = logging.getLogger("parley.merging")

MAX_DELIVERIES = 3  # a job whose worker died this often is failed instead of run again


class MergeInterrupted(Exception):
    """A transient infrastructure failure (database, Redis) stopped this delivery; the task runs it again."""


class InvalidRequest(exceptions.APIException):
    """A compare or merge request that cannot be accepted: a 4xx with a stable code, before anything is stored."""

    status_code = 400
    default_detail = "The merge request is invalid."
    default_code = "invalid"

    def __init__(self, detail: str, *, code: str, status_code: int = 400):
        super().__init__(detail, code)
        self.status_code = status_code


# --- creating jobs -------------------------------------------------------------------------------


def _check_ids(ids: list, *, what: str) -> list[str]:
    ids = [str(i) for i in ids]
    if len(ids) < 2:
        raise InvalidRequest(f"Give at least two {what} to merge.", code="too_few_sources")
    if len(set(ids)) != len(ids):
        raise InvalidRequest(f"The same {what[:-1]} is listed more than once.", code="duplicate_ids")
    limit = getattr(settings, "PARLEY_MERGE_MAX_SOURCES", 10)
    if len(ids) > limit:
        raise InvalidRequest(f"At most {limit} {what} can be merged at once.", code="too_many_sources")
    return ids


def check_model(*, model: str, user_id: int):
    """The route for `model`, or a 4xx naming why it cannot be used (unknown, no key configured, 402 once the
    user's monthly budget is used up)."""
    from providers import gateway
    from usage.services import budget_check

    try:
        route = gateway.resolve_route(model=model, user_id=user_id)
        budget_check(user_id=user_id)
        return route
    except ProviderError as exc:
        raise InvalidRequest(exc.message, code=exc.code,
                                  status_code=exc.status_code if exc.status_code < 500 else 400)


def _conversation_sources(owner, ids: list[str]) -> list[Conversation]:
    found = {str(c.id): c for c in Conversation.objects.filter(owner=owner, id__in=valid_uuids(ids))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidRequest(f"Conversation {missing[0]} was not found.", code="not_found", status_code=404)
    non_empty = set(
        Message.objects.filter(conversation_id__in=found.keys()).exclude(content="")
        .order_by().values_list("conversation_id", flat=True).distinct()
    )
    empty = [i for i in ids if found[i].id not in non_empty]
    if empty:
        raise InvalidRequest(f"Conversation {empty[0]} has no messages to merge.", code="empty_conversation")
    return [found[i] for i in ids]


def _message_sources(owner, ids: list[str]) -> list[Message]:
    found = {
        str(m.id): m
        for m in Message.objects.filter(conversation__owner=owner, id__in=valid_uuids(ids)).select_related("reply_to")
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidRequest(f"Message {missing[0]} was not found.", code="not_found", status_code=404)
    messages = [found[i] for i in ids]
    if any(m.role != MessageRole.ASSISTANT for m in messages):
        raise InvalidRequest("Only assistant answers can be fused.", code="not_an_answer")
    if any(m.reply_to_id is None for m in messages) or len({m.reply_to_id for m in messages}) != 1:
        raise InvalidRequest("Only sibling answers (replies to the same user message) can be fused.",
                                  code="not_siblings")
    if any(not m.content.strip() for m in messages):
        raise InvalidRequest("An answer to fuse is empty.", code="empty_message")
    return messages


def _digest(*, kind: str, model: str, instructions: str, ids: list[str]) -> str:
    payload = json.dumps([kind, model, instructions.strip(), ids], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def merge_job_create(*, owner, model: str, conversation_ids: list | None = None, message_ids: list | None = None,
                     instructions: str = "") -> tuple[MergeJob, bool]:
    """Validate and queue a merge (conversation_ids) or fusion (message_ids); (job, created).

    The same request from the same owner within PARLEY_MERGE_DEDUP_SECONDS returns the job it already made.
    """
    if bool(conversation_ids) == bool(message_ids):
        raise InvalidRequest("Give either conversation_ids or message_ids.", code="invalid_sources")
    if conversation_ids:
        kind, ids = MergeKind.CONVERSATIONS, _check_ids(conversation_ids, what="conversations")
        _conversation_sources(owner, ids)
    else:
        kind, ids = MergeKind.MESSAGES, _check_ids(message_ids, what="messages")
        _message_sources(owner, ids)
    check_model(model=model, user_id=owner.id)
    digest = _digest(kind=kind, model=model, instructions=instructions, ids=ids)
    window = timezone.now() - timedelta(seconds=getattr(settings, "PARLEY_MERGE_DEDUP_SECONDS", 30))
    with transaction.atomic():
        # Serialises one owner's submissions, so two identical requests racing each other make one job.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        existing = (
            MergeJob.objects.filter(owner=owner, request_digest=digest, created_at__gte=window)
            .exclude(status=MergeStatus.FAILED).first()
        )
        if existing is not None:
            return existing, False
        job = MergeJob.objects.create(
            owner=owner, kind=kind, model=model, instructions=instructions.strip(), source_ids=ids,
            request_digest=digest,
        )
        # The row is the outbox: a broker that refuses the task leaves it undispatched for the sweeper, never a 500.
        transaction.on_commit(lambda: merge_job_dispatch(job_id=job.id))
    return job, True


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "PARLEY_MERGE_STALE_SECONDS", 60))


def merge_job_dispatch(*, job_id) -> bool:
    """Hand the job's task to the queue; False (the job left for the sweeper) when the broker refuses it."""
    from merging.tasks import run_merge

    try:
        send_task(run_merge, str(job_id))
    except Exception as exc:  # kombu wraps every broker failure differently (OperationalError, OSError, RedisError)
        logger.warning("Merge job %s could not be queued (%r); the sweeper queues it again", job_id, exc)
        MergeJob.objects.filter(pk=job_id, status=MergeStatus.QUEUED).update(
            dispatched_at=None, stage="Waiting for the task queue")
        return False
    MergeJob.objects.filter(pk=job_id, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    return True


def merge_jobs_sweep() -> int:
    """Queue again every unfinished job that would otherwise never finish; returns how many.

    That is a job never handed to the queue (the broker was down when it was made), one running whose delivery
    stopped beating for PARLEY_MERGE_STALE_SECONDS (its worker was killed: the broker would redeliver only after its
    visibility timeout), and one queued ten times that long without a worker taking it (the broker lost the task, as
    a Redis restart without persistence does; a long queue is not a reason to queue it twice). Safe from several
    processes at once, and against a delivery that was only slow: the result is written once whatever runs.
    """
    now = timezone.now()
    cutoff = now - stale_after()
    # A job just made is dispatched by its own request when that commits; leave it a moment.
    fresh = now - min(stale_after(), timedelta(seconds=5))
    with transaction.atomic():
        ids = list(
            MergeJob.objects.select_for_update(skip_locked=True).filter(
                Q(status=MergeStatus.QUEUED, dispatched_at__isnull=True, created_at__lt=fresh)
                | Q(status=MergeStatus.QUEUED, dispatched_at__lt=now - 10 * stale_after())
                | Q(status=MergeStatus.RUNNING, heartbeat_at__lt=cutoff)
                | Q(status=MergeStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=cutoff)
            ).values_list("id", flat=True)
        )
        # Claimed for one stale period, so that other sweepers (another web process, beat) leave these alone.
        MergeJob.objects.filter(id__in=ids).update(dispatched_at=now, heartbeat_at=now)
    for job_id in ids:
        logger.warning("Merge job %s has no live delivery; queuing it again", job_id)
        merge_job_dispatch(job_id=job_id)
    return len(ids)


def merge_jobs_resume() -> int:
    """Without a broker, jobs run on threads of the web process: re-run those its previous life left unfinished.

    (With a broker, the sweeper re-queues a dead worker's job.) Returns how many were dispatched again.
    """
    if settings.CELERY_BROKER_URL:
        return 0
    ids = list(MergeJob.objects.filter(status__in=[MergeStatus.QUEUED, MergeStatus.RUNNING])
               .values_list("id", flat=True))
    for job_id in ids:
        transaction.on_commit(lambda job_id=job_id: merge_job_dispatch(job_id=job_id))
    return len(ids)


# --- running jobs ---------------------------------------------------------------------------------


def _claim(job_id) -> MergeJob | None:
    """Mark the job running for this delivery; None when it is finished (a redelivered, done task)."""
    with transaction.atomic():
        job = MergeJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return None
        job.attempts += 1
        job.status = MergeStatus.RUNNING
        job.progress = max(job.progress, 5)
        job.stage = "Starting" if job.attempts == 1 else f"Restarting (delivery {job.attempts})"
        job.started_at = job.started_at or timezone.now()
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["attempts", "status", "progress", "stage", "started_at", "heartbeat_at"])
    return job


class Heartbeat:
    """While a delivery runs, a thread of its own stamps the job's `heartbeat_at` a few times per stale period: a
    worker killed whole stops beating, and the sweeper queues the job again."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"merge-heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _beat(self) -> None:
        from core.db import revalidate_connections

        interval = max(0.2, stale_after().total_seconds() / 4)
        try:
            while not self.stopped.wait(interval):
                try:
                    revalidate_connections()
                    MergeJob.objects.filter(pk=self.job_id, status=MergeStatus.RUNNING).update(
                        heartbeat_at=timezone.now())
                except DatabaseError:
                    logger.warning("Merge job %s: the heartbeat could not be stored", self.job_id)
        finally:
            connection.close()


def status_event(job: MergeJob) -> dict:
    return events.merge_status(job_id=str(job.id), status=job.status, progress=job.progress, stage=job.stage,
                               round=job.output_round)


def final_events(job: MergeJob) -> list[dict]:
    """What ends a merge stream: status, an error if it failed, and merge_complete."""
    final = [status_event(job)]
    if job.status == MergeStatus.FAILED:
        final.append(events.error(job_id=str(job.id), code=job.error_code or "merge_failed", message=job.error))
    final.append(events.merge_complete(
        job_id=str(job.id), status=job.status,
        conversation_id=str(job.result_conversation_id) if job.result_conversation_id else None,
        message_id=str(job.result_message_id) if job.result_message_id else None,
    ))
    return final


class JobReporter(synthesis.Reporter):
    """Persists a running job's stage, progress and output in time slices, and broadcasts them."""

    def __init__(self, job: MergeJob, *, expected_chars: int):
        self.job_id = job.id
        self.round = job.output_round
        self.progress = job.progress
        self.stage_text = job.stage
        self.expected_chars = max(expected_chars, 200)
        self.slice_seconds = getattr(settings, "PARLEY_MERGE_SLICE_SECONDS", 0.1)
        self.text, self.sent, self.last_flush = "", 0, 0.0

    def _save(self, **fields) -> None:
        MergeJob.objects.filter(pk=self.job_id, status=MergeStatus.RUNNING).update(**fields)

    async def _status(self) -> None:
        await broadcast.publish(self.job_id, events.merge_status(
            job_id=str(self.job_id), status=MergeStatus.RUNNING, progress=self.progress, stage=self.stage_text,
            round=self.round,
        ))

    async def stage(self, text: str, progress: int) -> None:
        self.stage_text, self.progress = text, max(self.progress, progress)
        await sync_to_async(self._save)(stage=text[:200], progress=self.progress)
        await self._status()

    async def output_started(self) -> None:
        self.round += 1
        self.text, self.sent = "", 0
        await sync_to_async(self._save)(output_round=self.round, raw_output="")
        await self._status()

    async def output_delta(self, text: str) -> None:
        self.text += text
        if time.monotonic() - self.last_flush >= self.slice_seconds:
            await self.output_finished()

    async def output_finished(self) -> None:
        """Persist, then publish, the text since the last slice: the database is never behind a subscriber."""
        self.last_flush = time.monotonic()
        if self.sent == len(self.text):
            return
        self.progress = max(self.progress, min(90, 50 + int(40 * len(self.text) / self.expected_chars)))
        await sync_to_async(self._save)(raw_output=self.text, progress=self.progress)
        delta, offset, self.sent = self.text[self.sent:], self.sent, len(self.text)
        await broadcast.publish(self.job_id, events.merge_content(
            job_id=str(self.job_id), text=delta, offset=offset, round=self.round, progress=self.progress,
        ))


def _load_conversation_sources(job: MergeJob) -> list[SourceConversation]:
    conversations = {str(c.id): c for c in Conversation.objects.filter(owner=job.owner_id, id__in=job.source_ids)}
    sources = []
    for index, conversation_id in enumerate(job.source_ids):
        conversation = conversations.get(conversation_id)
        if conversation is None:
            raise synthesis.MergeFailed(f"Conversation {conversation_id} no longer exists.", code="source_gone")
        messages = [
            SourceMessage(m.role, m.content, m.reasoning, str(m.id))
            for m in conversation.messages.filter(role__in=[MessageRole.USER, MessageRole.ASSISTANT])
            # Unselected compare siblings are alternatives the user set aside; the selected one speaks.
            .filter(Q(selected=True) | Q(reply_to__isnull=True)).exclude(content="")
        ]
        label = chr(ord("A") + index)
        sources.append(SourceConversation(label, conversation_id, conversation.title, messages))
    return sources


def merge_job_run(*, job_id) -> None:
    """Run one delivery of a merge job; a job already finished (by an earlier delivery) is left alone."""
    job = _claim(job_id)
    if job is None:
        return
    if job.attempts > MAX_DELIVERIES:
        _finish_failed(job.id, f"The merge was interrupted {MAX_DELIVERIES} times; giving up.", "interrupted", "")
        return
    try:
        with Heartbeat(job.id):
            async_to_sync(_publish_now)(job)
            if job.kind == MergeKind.CONVERSATIONS:
                _run_conversation_merge(job)
            else:
                _run_fusion(job)
    except synthesis.MergeFailed as exc:
        _finish_failed(job.id, exc.message, exc.code, exc.raw_output)
    except BudgetExceeded as exc:  # a call it was about to make: the month's budget is used up
        _finish_failed(job.id, exc.message, exc.code, "")
    except ProviderError as exc:
        _finish_failed(job.id, f"The merge model failed: {exc.message}", exc.code, "")
    except InvalidRequest as exc:  # e.g. the key was deleted after the job was queued
        _finish_failed(job.id, str(exc.detail), str(exc.detail.code), "")
    except (DatabaseError, RedisError, OSError) as exc:
        # The database or Redis hiccuped: worth another delivery (the task retries), not a failed job.
        logger.warning("Merge job %s interrupted by %r; it will be retried", job.id, exc)
        raise MergeInterrupted(str(exc)) from exc
    except Exception as exc:
        # Celery's soft time limit arrives as an exception too; anything else is a bug worth a traceback.
        logger.exception("Merge job %s crashed", job.id)
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            _finish_failed(job.id, "The merge timed out.", "timeout", "")
        else:
            _finish_failed(job.id, f"The merge failed unexpectedly ({type(exc).__name__}).", "internal_error", "")


async def _publish_now(job: MergeJob) -> None:
    await broadcast.publish(job.id, status_event(job))


def _publish_final(job_id) -> None:
    job = MergeJob.objects.get(pk=job_id)

    async def publish():
        for event in final_events(job):
            await broadcast.publish(job_id, event)

    async_to_sync(publish)()


def _run_conversation_merge(job: MergeJob) -> None:
    sources = _load_conversation_sources(job)
    originals = {s.label: list(s.messages) for s in sources}
    route = check_model(model=job.model, user_id=job.owner_id)
    limits = synthesis.model_limits(job.model)
    reporter = JobReporter(job, expected_chars=sum(len(s.render()) for s in sources) // 2)

    async def run():
        result = await synthesis.merge_conversations(
            route, sources, instructions=job.instructions, limits=limits, reporter=reporter)
        await reporter.output_finished()
        return result

    parsed, raw = async_to_sync(run)()
    if _write_conversation_result(job.id, parsed, raw, sources, originals):
        _publish_final(job.id)


def _run_fusion(job: MergeJob) -> None:
    messages = {str(m.id): m for m in Message.objects.filter(id__in=job.source_ids).select_related("reply_to")}
    if len(messages) != len(job.source_ids):
        raise synthesis.MergeFailed("An answer to fuse no longer exists.", code="source_gone")
    answers = [messages[i] for i in job.source_ids]
    question = answers[0].reply_to.content if answers[0].reply_to else ""
    route = check_model(model=job.model, user_id=job.owner_id)
    limits = synthesis.model_limits(job.model)
    reporter = JobReporter(job, expected_chars=max(len(a.content) for a in answers))

    async def run():
        result = await synthesis.fuse_answers(
            route, question, [(a.model or "model", a.content) for a in answers], instructions=job.instructions,
            limits=limits, reporter=reporter)
        await reporter.output_finished()
        return result

    content, raw = async_to_sync(run)()
    if _write_fusion_result(job.id, content, raw, answers):
        _publish_final(job.id)


# --- writing results ------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def _best_source(message: ParsedMessage, originals: dict[str, list[SourceMessage]],
                 labels: dict[str, str]) -> tuple[str, str] | None:
    """(conversation id, message id) of the stored message this merged one most plainly comes from."""
    words = _words(message.content)
    if len(words) < 3:
        return None
    best, best_score = None, 0.0
    for label, candidates in originals.items():
        for candidate in candidates:
            if candidate.role != message.role or not candidate.message_id:
                continue
            other = _words(candidate.content)
            if not other:
                continue
            score = len(words & other) / min(len(words), len(other))
            if score > best_score:
                best, best_score = (labels[label], candidate.message_id), score
    return best if best_score >= 0.6 else None


def _finish_locked(job_id) -> MergeJob | None:
    """The job row locked for writing its outcome; None when another delivery already wrote one."""
    job = MergeJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.finished:
        return None
    return job


def _write_conversation_result(job_id, parsed: list[ParsedMessage], raw: str, sources: list[SourceConversation],
                               originals: dict[str, list[SourceMessage]]) -> bool:
    labels = {s.label: s.conversation_id for s in sources}
    with transaction.atomic():
        job = _finish_locked(job_id)
        if job is None:
            return False
        source_conversations = list(Conversation.objects.filter(id__in=job.source_ids))
        titles = [c.title or "untitled" for c in sorted(source_conversations, key=lambda c: job.source_ids.index(
            str(c.id)))]
        max_title = getattr(settings, "PARLEY_MAX_TITLE_LENGTH", 200)
        title = "Merge of " + ", ".join(titles)
        conversation = Conversation.objects.create(
            owner_id=job.owner_id, title=title if len(title) <= max_title else title[:max_title - 1] + "…",
            system_prompt=next((c.system_prompt for c in source_conversations if c.system_prompt), ""),
            default_model=job.model,
        )
        base = timezone.now()
        rows, history = [], []
        for item in parsed:
            match = _best_source(item, originals, labels)
            cited = [labels[label] for label in item.sources if label in labels]
            source_ids = sorted({*cited, *([match[0]] if match else [])})
            message = Message(
                conversation=conversation, role=item.role, content=item.content, reasoning=item.reasoning,
                model=job.model if item.role == MessageRole.ASSISTANT else "", status=MessageStatus.COMPLETE,
                metadata={"merge": {"job_id": str(job.id), "source_conversation_ids": source_ids,
                                    "source_message_id": match[1] if match else None}},
            )
            rows.append(message)
            for conversation_id in source_ids:
                history.append(MergeHistory(
                    job=job, result_message=message, source_conversation_id=conversation_id,
                    source_message_id=match[1] if match and match[0] == conversation_id else None,
                ))
        for previous, message in zip(rows, rows[1:], strict=False):
            message.parent = previous  # one branch, in answer order (chats.tree)
        Message.objects.bulk_create(rows)
        # One timestamp per message in answer order: the conversation reads back in the order merged.
        for index, message in enumerate(rows):
            message.created_at = base + timedelta(milliseconds=index)
        Message.objects.bulk_update(rows, ["created_at"])
        history += [MergeHistory(job=job, result_conversation=conversation, source_conversation=c)
                    for c in source_conversations]
        MergeHistory.objects.bulk_create(history)
        job.status, job.progress, job.stage = MergeStatus.SUCCEEDED, 100, "Done"
        job.result_conversation, job.raw_output, job.error, job.error_code = conversation, raw, "", ""
        job.finished_at = timezone.now()
        job.save()
    return True


def _write_fusion_result(job_id, content: str, raw: str, answers: list[Message]) -> bool:
    with transaction.atomic():
        job = _finish_locked(job_id)
        if job is None:
            return False
        first = answers[0]
        Message.objects.filter(reply_to_id=first.reply_to_id).update(selected=False)
        message = Message.objects.create(
            conversation_id=first.conversation_id, role=MessageRole.ASSISTANT, content=content, model=job.model,
            reply_to_id=first.reply_to_id, selected=True, status=MessageStatus.COMPLETE,
            metadata={"merge": {"job_id": str(job.id), "fused_from": [str(a.id) for a in answers]}},
        )
        MergeHistory.objects.bulk_create([
            MergeHistory(job=job, result_message=message, source_message=a, source_conversation_id=a.conversation_id)
            for a in answers
        ])
        Conversation.objects.filter(pk=first.conversation_id).update(updated_at=timezone.now())
        job.status, job.progress, job.stage = MergeStatus.SUCCEEDED, 100, "Done"
        job.result_message, job.raw_output, job.error, job.error_code = message, raw, "", ""
        job.finished_at = timezone.now()
        job.save()
    return True


def _finish_failed(job_id, error: str, code: str, raw_output: str) -> None:
    with transaction.atomic():
        job = _finish_locked(job_id)
        if job is None:
            return
        job.status, job.stage, job.error, job.error_code = MergeStatus.FAILED, "Failed", error[:2000], code[:64]
        if raw_output:
            job.raw_output = raw_output
        job.finished_at = timezone.now()
        job.save()
    _publish_final(job_id)


# --- compare siblings -----------------------------------------------------------------------------


def message_select(*, owner, message_id) -> Message:
    """Make `message_id` the answer its conversation continues from; its siblings stay, unselected."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(conversation__owner=owner, id__in=valid_uuids([str(message_id)]))
            .first()
        )
        if message is None:
            raise exceptions.NotFound("Message not found.")
        # The tree (SPEC §8, chats.tree): any message, user or assistant, can be selected, and with it the branch
        # below it (a message without other versions is selected already: nothing changes).
        tree_select(message=message)
    return message
