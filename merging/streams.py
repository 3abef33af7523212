"""A merge job's event stream for one subscriber: its current state first, then live events until it ends."""
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async

from core import events
from merging import broadcast
from merging.models import MergeJob
from merging.services import final_events, status_event

# Silence after which the job is re-read, so a subscriber ends even if the final broadcast was missed.
RECHECK_SECONDS = 2.0


@database_sync_to_async
def _load(job_id) -> MergeJob:
    return MergeJob.objects.get(pk=job_id)


async def merge_job_events(job_id) -> AsyncIterator[dict | None]:
    """Yield the job's events; None marks a quiet spell (a chance to send a keep-alive)."""
    async with broadcast.subscribe(job_id) as subscription:
        # Subscribed before reading: whatever was published before is in the row (written before published).
        job = await _load(job_id)
        if job.finished:
            for event in final_events(job):
                yield event
            return
        yield status_event(job)
        output_round, sent = job.output_round, 0
        if job.raw_output:
            sent = len(job.raw_output)
            yield events.merge_content(job_id=str(job.id), text=job.raw_output, offset=0, round=output_round,
                                       progress=job.progress)
        while True:
            event = await subscription.get(RECHECK_SECONDS)
            if event is None:
                job = await _load(job_id)
                if job.finished:
                    for final in final_events(job):
                        yield final
                    return
                yield None
                continue
            if event["type"] == "content":
                if event["round"] < output_round:
                    continue
                if event["round"] > output_round:
                    output_round, sent = event["round"], 0
                end = event["offset"] + len(event["content"])
                if end <= sent:
                    continue  # already replayed from the row
                if event["offset"] < sent:
                    event = {**event, "content": event["content"][sent - event["offset"]:], "offset": sent}
                sent = end
            elif event["type"] == "status" and event.get("round", 0) > output_round:
                output_round, sent = event["round"], 0
            yield event
            if event["type"] == "merge_complete":
                return
