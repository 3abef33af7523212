"""The engine's pure parts: which model answers, what history the provider sees, SSE framing, batching."""
import asyncio
import json

import pytest

from chats.generations import chat_history, resolve_model
from chats.generations.state import Subscriber
from chats.models import Message, MessageStatus
from chats.services import conversation_create, message_create
from core.sse import encode_event
from tests.chats.streaming_client import parse_sse


@pytest.mark.django_db
def test_the_model_is_the_request_then_the_message_then_the_conversation_then_the_default(user, settings):
    settings.PARLEY_DEFAULT_MODEL = "openai/default"
    conversation = conversation_create(owner=user)
    plain = message_create(conversation=conversation, content="hi")
    pinned = message_create(conversation=conversation, content="hi", model="openai/pinned")
    assert resolve_model(conversation=conversation, reply_to=plain) == "openai/default"
    conversation.default_model = "openai/conversation"
    assert resolve_model(conversation=conversation, reply_to=plain) == "openai/conversation"
    assert resolve_model(conversation=conversation, reply_to=pinned) == "openai/pinned"
    assert resolve_model(conversation=conversation, reply_to=pinned, model=" openai/asked ") == "openai/asked"


@pytest.mark.django_db
def test_history_keeps_selected_answers_and_partial_text_but_not_empty_failures(user):
    conversation = conversation_create(owner=user, system_prompt="sys")
    first = message_create(conversation=conversation, content="first question")

    def answer(content, *, selected=True, status=MessageStatus.COMPLETE, reply_to=first):
        return Message.objects.create(conversation=conversation, role="assistant", content=content,
                                      selected=selected, status=status, reply_to=reply_to)

    answer("chosen sibling")
    answer("other sibling", selected=False)
    answer("", status=MessageStatus.FAILED)
    second = message_create(conversation=conversation, content="second question")
    answer("half an ans", status=MessageStatus.CANCELLED, reply_to=second)
    third = message_create(conversation=conversation, content="third question")
    later = message_create(conversation=conversation, content="after the one we answer")

    history = chat_history(conversation=conversation, up_to=third)
    assert [(m.role, m.content) for m in history] == [
        ("user", "first question"), ("assistant", "chosen sibling"), ("user", "second question"),
        ("assistant", "half an ans"), ("user", "third question"),
    ]
    assert later.content not in [m.content for m in history]


def test_sse_frames_carry_the_seq_as_id_and_survive_a_round_trip():
    event = {"type": "content", "seq": 7, "content": "multi\nline ünïcode 🎉"}
    frame = encode_event(event)
    assert frame.startswith("id: 7\nevent: content\ndata: ") and frame.endswith("\n\n")
    assert frame.count("\n") == 4  # the JSON stays on one data line
    parsed = parse_sse(frame)[0]
    assert {key: parsed[key] for key in event} == event
    assert json.loads(frame.split("data: ", 1)[1]) == event


async def test_a_subscriber_wakes_once_per_batch_and_times_out_empty():
    subscriber = Subscriber(asyncio.get_running_loop())
    assert await subscriber.next_batch(0.01) == []
    for seq in (1, 2, 3):
        subscriber.push({"seq": seq})
    assert [event["seq"] for event in await subscriber.next_batch(1)] == [1, 2, 3]
    waiting = asyncio.ensure_future(subscriber.next_batch(5))
    await asyncio.sleep(0)
    subscriber.push({"seq": 4})
    assert [event["seq"] for event in await waiting] == [4]
