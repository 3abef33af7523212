"""Continuing a stopped reply (SPEC §8) keeps its earlier generation: the message has both, the earlier one still
answers with its own text, events and usage, and deleting the message takes both with it."""
import pytest
from asgiref.sync import sync_to_async

from chats.models import Generation
from chats.services import conversation_create
from tests.chats.streaming_client import read_events, story_text, text_of
from tests.chats.test_tree import _sse, client_for
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_continued_reply_keeps_its_earlier_generation(live_asgi, fake_provider, alice):
    conversation = await sync_to_async(conversation_create)(owner=alice, default_model="openai/story-200-20")
    async with client_for(live_asgi, alice) as client:
        async with client.stream("POST", f"/api/v1/conversations/{conversation.pk}/completions/",
                                 json={"content": "tell me"}) as response:
            head = await read_events(response, stop_after=4)
            first_id = response.headers["x-generation-id"]
            await client.post(f"/api/v1/generations/{first_id}/cancel/")
            stopped = head + await read_events(response)
        reply_id = stopped[-1]["message_id"]
        assert stopped[-1]["status"] == "cancelled"
        first_text = text_of(stopped)

        continued = await _sse(client, "POST", f"/api/v1/messages/{reply_id}/continue/")
        second_id = continued[0]["generation_id"]
        assert second_id != first_id and continued[-1]["status"] == "complete"

        # The earlier generation is still the message's, with its own text, its events and its usage.
        earlier = (await client.get(f"/api/v1/generations/{first_id}/")).json()
        assert (earlier["message_id"], earlier["status"], earlier["content"]) == (reply_id, "cancelled", first_text)
        replay = await _sse(client, "GET", f"/api/v1/generations/{first_id}/stream/?after=0")
        assert text_of(replay) == first_text and replay[-1]["status"] == "cancelled"
        later = (await client.get(f"/api/v1/generations/{second_id}/")).json()
        assert (later["message_id"], later["content"]) == (reply_id, first_text + story_text(200))
        message = (await client.get(f"/api/v1/messages/{reply_id}/")).json()
        assert (message["content"], message["status"]) == (first_text + story_text(200), "complete")

        rows = await sync_to_async(lambda: {str(r.generation_id): r.status for r in UsageRecord.objects.all()})()
        assert rows == {first_id: "cancelled", second_id: "complete"}
        message_generations = await sync_to_async(
            lambda: sorted(str(g.pk) for g in Generation.objects.filter(message_id=reply_id)))()
        assert message_generations == sorted([first_id, second_id])

        # Deleting the message takes every generation of it; its spend stays in the month.
        assert (await client.delete(f"/api/v1/messages/{reply_id}/")).status_code == 204
        for generation_id in (first_id, second_id):
            assert (await client.get(f"/api/v1/generations/{generation_id}/")).status_code == 404
        assert await UsageRecord.objects.acount() == 2
