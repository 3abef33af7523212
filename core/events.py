"""Parley's stream events: one constructor per event type, for generation, compare and merge streams alike.

Every SSE frame and WebSocket frame Parley sends is built here, so a field added to an event reaches every
transport. Generation events carry their ``seq`` (the resume point); frame errors and merge events do not.
"""


# --- a generation's events (SPEC §4) --------------------------------------------------------------------------------


def start(*, seq: int, generation_id: str | None, message_id: str | None, model: str) -> dict:
    return {"type": "start", "seq": seq, "generation_id": generation_id, "message_id": message_id, "model": model}


def content(*, seq: int, text: str) -> dict:
    return {"type": "content", "seq": seq, "content": text}


def reasoning(*, seq: int, text: str) -> dict:
    return {"type": "reasoning", "seq": seq, "reasoning": text}


def tool_call(*, seq: int, id: str, name: str, arguments: str) -> dict:  # noqa: A002 - the event's field
    return {"type": "tool_call", "seq": seq, "id": id, "name": name, "arguments": arguments}


def tool_approval(*, seq: int, id: str, name: str, arguments: str) -> dict:  # noqa: A002 - the event's field
    return {"type": "tool_approval", "seq": seq, "id": id, "name": name, "arguments": arguments}


def tool_result(*, seq: int, id: str, name: str, content: str, is_error: bool) -> dict:  # noqa: A002
    return {"type": "tool_result", "seq": seq, "id": id, "name": name, "content": content, "is_error": is_error}


def citations(*, seq: int, items: list) -> dict:
    return {"type": "citations", "seq": seq, "citations": items}


def usage(*, seq: int, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int,
          cost: float | None) -> dict:
    return {"type": "usage", "seq": seq, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "reasoning_tokens": reasoning_tokens, "cost": cost}


def error(*, code: str, message: str, retryable: bool = False, seq: int | None = None, **tags) -> dict:
    """An error: in a generation's stream (with `seq`), a refused WebSocket frame (without), a merge (`job_id`)."""
    event = {"type": "error"}
    if seq is not None:
        event["seq"] = seq
    return {**event, **tags, "code": code, "message": message, "retryable": retryable}


TERMINAL = "done"


def done(*, seq: int, message_id: str | None, status: str, finish_reason: str, latency_ms: int | None,
         ttft_ms: int | None) -> dict:
    return {"type": TERMINAL, "seq": seq, "done": True, "message_id": message_id, "status": status,
            "finish_reason": finish_reason, "latency_ms": latency_ms, "ttft_ms": ttft_ms}


# --- compare ---------------------------------------------------------------------------------------------------------


def tagged(event: dict, *, model: str, message_id: str, generation_id: str) -> dict:
    """A generation's event inside a compare: its own `seq`, plus which model and message it belongs to."""
    return {**event, "model": model, "message_id": message_id, "generation_id": generation_id}


def compare_started(*, conversation_id: str, user_message_id: str, group_id: str, generations: list[dict]) -> dict:
    return {"type": "compare_started", "conversation_id": conversation_id, "user_message_id": user_message_id,
            "group_id": group_id, "generations": generations}


def compare_complete(*, group_id: str, selected_message_id: str | None) -> dict:
    return {"type": "compare_complete", "group_id": group_id, "selected_message_id": selected_message_id}


# --- merge jobs ------------------------------------------------------------------------------------------------------


def merge_status(*, job_id: str, status: str, progress: int, stage: str, round: int) -> dict:  # noqa: A002
    return {"type": "status", "job_id": job_id, "status": status, "progress": progress, "stage": stage,
            "round": round}


def merge_content(*, job_id: str, text: str, offset: int, round: int, progress: int) -> dict:  # noqa: A002
    return {"type": "content", "job_id": job_id, "content": text, "offset": offset, "round": round,
            "progress": progress}


def merge_complete(*, job_id: str, status: str, conversation_id: str | None, message_id: str | None) -> dict:
    return {"type": "merge_complete", "job_id": job_id, "status": status, "conversation_id": conversation_id,
            "message_id": message_id}


# --- socket housekeeping ---------------------------------------------------------------------------------------------


def pong() -> dict:
    return {"type": "pong"}
