"""SPEC §4 and `make run`: the server run as `make run` runs it (uvicorn, lifespan on), stopped with SIGTERM while a
reply streams, stores the reply as `interrupted` with the text it had."""
import os

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from accounts.services import api_token_create
from chats.models import Generation, Message
from tests.chats.streaming_client import bearer, read_events
from tests.fixtures.fake_provider import fake_provider_env
from tests.fixtures.live_server import SubprocessAsgiServer, subprocess_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return subprocess_database_url()
    return f"sqlite:///{settings.DATABASES['default']['NAME']}"


async def test_sigterm_stores_a_running_reply_as_interrupted(fake_provider_server, django_user_model):
    user = await django_user_model.objects.acreate(username="erin")
    _, raw = await sync_to_async(api_token_create)(user=user, name="contract")
    server = SubprocessAsgiServer({
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1", **fake_provider_env(fake_provider_server),
    }).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=bearer(raw), timeout=30) as client:
            conversation = (await client.post("/api/v1/conversations/", json={})).json()["id"]
            async with client.stream("POST", f"/api/v1/conversations/{conversation}/completions/",
                                     json={"content": "long", "model": "openai/story-400-50"}) as response:
                events = await read_events(response, stop_after=4)
    finally:
        server.stop()  # SIGTERM, then waits for the process to exit
    assert server.process.returncode is not None
    generation = await Generation.objects.aget(pk=events[0]["generation_id"])
    message = await Message.objects.aget(pk=events[0]["message_id"])
    assert generation.status == "interrupted" and message.status == "interrupted"
    assert message.content.startswith("w1 w2 w3 ")
    assert not message.content.endswith("w400 ")
