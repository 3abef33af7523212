"""Attachments in conversations, on a live server and through the real fake provider: every kind reaches every
provider family with its bytes intact (the fake's `describe` model reports their sha256), later turns resend
them, compare sends them to every model, and every bad reference is refused before anything is stored."""
import hashlib
import json

import httpx
import pytest
import websockets

from accounts.services import api_token_create
from chats.models import Message
from tests.chats.streaming_client import bearer, read_events, text_of
from tests.providers.streaming import model_name
from tests.uploads import files
from uploads.models import Upload

pytestmark = pytest.mark.django_db(transaction=True)

PNG = files.image("PNG")
PDF = files.pdf("Quarterly numbers went up")
NOTES = "# Notes\n\nçà et là\n".encode()
FAMILIES = ("openai", "anthropic", "gemini", "openrouter")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def line(message: int, kind: str, media_type: str, data: bytes, name: str = "") -> str:
    return f"- message {message}: {kind} {media_type} {len(data)} bytes sha256={sha(data)} name={name}\n"


@pytest.fixture
def token(make_user):
    return api_token_create(user=make_user("carol"), name="uploads")[1]


@pytest.fixture
def other_token(make_user):
    return api_token_create(user=make_user("mallory"), name="uploads")[1]


@pytest.fixture
async def client(live_asgi, fake_provider, token):
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(token), timeout=30) as client:
        yield client


async def upload(client, data: bytes, name: str) -> str:
    response = await client.post("/api/v1/uploads/", files={"file": (name, data, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def new_conversation(client) -> str:
    return (await client.post("/api/v1/conversations/", json={})).json()["id"]


async def complete(client, conversation_id, content, model, attachments=()):
    async with client.stream("POST", f"/api/v1/conversations/{conversation_id}/completions/",
                             json={"content": content, "model": model, "attachments": list(attachments)}) as response:
        if response.status_code != 200:
            await response.aread()
            return response, []
        return response, await read_events(response)


@pytest.mark.parametrize("provider", FAMILIES)
async def test_every_kind_reaches_each_provider_with_its_bytes(client, fake_provider, provider):
    ids = [await upload(client, PNG, "dot.png"), await upload(client, PDF, "q3.pdf"),
           await upload(client, NOTES, "notes.md")]
    conversation_id = await new_conversation(client)
    response, events = await complete(client, conversation_id, "What is in these?", model_name(provider, "describe"),
                                      ids)
    assert response.status_code == 200, response.text
    pdf_name = "q3.pdf" if provider in ("openai", "openrouter") else ""  # only OpenAI's file part names the file
    assert text_of(events) == "3 attachment(s):\n" + line(0, "image", "image/png", PNG) + line(
        0, "pdf", "application/pdf", PDF, pdf_name) + line(0, "text", "text/plain", NOTES, "notes.md")
    (sent,) = [r for r in fake_provider.requests() if r["json"]]
    assert [a["sha256"] for a in sent["attachments"]] == [sha(PNG), sha(PDF), sha(NOTES)]

    history = (await client.get(f"/api/v1/conversations/{conversation_id}/messages/")).json()["results"]
    shown = history[0]["attachments"]
    assert [(a["id"], a["name"], a["kind"], a["sha256"]) for a in shown] == [
        (ids[0], "dot.png", "image", sha(PNG)), (ids[1], "q3.pdf", "pdf", sha(PDF)),
        (ids[2], "notes.md", "text", sha(NOTES))]
    assert (await client.get(shown[0]["url"])).content == PNG
    assert history[1]["attachments"] == []


@pytest.mark.parametrize("provider", FAMILIES)
async def test_a_later_turn_resends_earlier_attachments(client, fake_provider, provider):
    conversation_id = await new_conversation(client)
    model = model_name(provider, "describe")
    await complete(client, conversation_id, "Look at this", model, [await upload(client, PNG, "dot.png")])
    fake_provider.clear()
    response, events = await complete(client, conversation_id, "And now?", model)
    assert response.status_code == 200
    assert text_of(events) == "1 attachment(s):\n" + line(0, "image", "image/png", PNG)
    (sent,) = [r for r in fake_provider.requests() if r["json"]]
    assert [a["sha256"] for a in sent["attachments"]] == [sha(PNG)]


async def test_a_model_without_vision_is_refused_images_and_nothing_is_stored(client):
    image_id = await upload(client, PNG, "dot.png")
    conversation_id = await new_conversation(client)
    response, _ = await complete(client, conversation_id, "What is this?", "openai/echo", [image_id])
    assert response.status_code == 400 and response.json()["code"] == "unsupported_attachment"
    assert "openai/echo" in response.json()["detail"]
    response = await client.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                 json={"content": "this?", "model": "openai/echo", "attachments": [image_id]})
    assert response.status_code == 400 and response.json()["code"] == "unsupported_attachment"
    assert not await Message.objects.filter(conversation_id=conversation_id).aexists()
    assert (await Upload.objects.aget(pk=image_id)).message_id is None  # still free to use with another model


async def test_a_model_without_pdf_gets_the_extracted_text(client, fake_provider):
    pdf_id = await upload(client, PDF, "q3.pdf")
    response, events = await complete(client, await new_conversation(client), "Summarise", "openai/echo", [pdf_id])
    assert response.status_code == 200 and text_of(events) == "You said: Summarise"
    (sent,) = [r for r in fake_provider.requests() if r["json"]]
    parts = sent["json"]["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "File: q3.pdf\n\nQuarterly numbers went up"}
    assert [a["kind"] for a in sent["attachments"]] == ["text"]


async def test_an_earlier_image_becomes_a_note_for_a_text_only_model(client, fake_provider):
    conversation_id = await new_conversation(client)
    await complete(client, conversation_id, "Look", "anthropic/describe", [await upload(client, PNG, "dot.png")])
    fake_provider.clear()
    response, _ = await complete(client, conversation_id, "Go on", "openai/echo")
    assert response.status_code == 200
    (sent,) = [r for r in fake_provider.requests() if r["json"]]
    first = sent["json"]["messages"][0]["content"]
    assert first[0]["type"] == "text" and "cannot see images" in first[0]["text"]


async def test_foreign_unknown_and_reused_uploads_are_refused(live_asgi, fake_provider, client, other_token):
    async with httpx.AsyncClient(base_url=live_asgi.url, headers=bearer(other_token), timeout=30) as other:
        foreign = await upload(other, NOTES, "theirs.md")
    conversation_id = await new_conversation(client)
    for ids, code in (([foreign], "invalid_attachment"), (["4c3a7d0e-0000-4000-8000-000000000000"],
                                                          "invalid_attachment"), (["nope"], "invalid_attachment")):
        response, _ = await complete(client, conversation_id, "hi", "openai/describe", ids)
        assert response.status_code == 400 and response.json()["code"] == code
        response = await client.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                     json={"content": "hi", "attachments": ids})
        assert response.status_code == 400 and response.json()["code"] == code
    mine = await upload(client, NOTES, "mine.md")
    response, _ = await complete(client, conversation_id, "twice", "openai/describe", [mine, mine])
    assert response.status_code == 400 and response.json()["code"] == "invalid_attachment"
    response = await client.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                 json={"content": "first", "attachments": [mine]})
    assert response.status_code == 201
    response, _ = await complete(client, conversation_id, "second", "openai/describe", [mine])
    assert response.status_code == 400 and response.json()["code"] == "attachment_in_use"
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 1
    # The other user's upload was never touched.
    assert (await Upload.objects.aget(pk=foreign)).message_id is None


async def test_the_message_then_stream_flow_sends_the_attachments(client):
    conversation_id = await new_conversation(client)
    text_id = await upload(client, NOTES, "notes.md")
    response = await client.post(f"/api/v1/conversations/{conversation_id}/messages/",
                                 json={"content": "Read it", "attachments": [text_id]})
    assert response.status_code == 201 and response.json()["attachments"][0]["id"] == text_id
    async with client.stream("GET", f"/api/v1/conversations/{conversation_id}/stream/",
                             params={"model": "gemini/describe"}) as stream:
        events = await read_events(stream)
    assert text_of(events) == "1 attachment(s):\n" + line(0, "text", "text/plain", NOTES, "notes.md")


async def test_websocket_send_takes_attachments(live_asgi, client, token):
    conversation_id = await new_conversation(client)
    image_id = await upload(client, PNG, "dot.png")
    url = f"{live_asgi.ws_url}/ws/conversations/{conversation_id}/"
    async with websockets.connect(url, additional_headers={**bearer(token), "Origin": live_asgi.url}) as socket:
        await socket.send(json.dumps({"type": "send", "content": "hi", "model": "anthropic/describe",
                                      "attachments": ["not-an-id"]}))
        error = json.loads(await socket.recv())
        assert (error["type"], error["code"]) == ("error", "invalid_attachment")
        await socket.send(json.dumps({"type": "send", "content": "hi", "model": "anthropic/describe",
                                      "attachments": [image_id]}))
        events = []
        while not events or events[-1]["type"] != "done":
            events.append(json.loads(await socket.recv()))
    assert text_of(events) == "1 attachment(s):\n" + line(0, "image", "image/png", PNG)


async def test_compare_sends_the_same_attachments_to_every_model(client, fake_provider):
    image_id = await upload(client, PNG, "dot.png")
    models = ["openai/describe", "anthropic/describe", "gemini/describe", "openrouter/fake/describe"]
    response = await client.post("/api/v1/compare/", json={"prompt": "Describe", "models": models,
                                                           "attachments": [image_id]})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = "1 attachment(s):\n" + line(0, "image", "image/png", PNG)
    assert [answer["content"] for answer in body["responses"]] == [expected] * 4
    stored = await Message.objects.aget(pk=body["user_message_id"])
    assert [a["id"] for a in stored.attachments] == [image_id]


async def test_compare_checks_every_model_before_storing(client):
    image_id = await upload(client, PNG, "dot.png")
    response = await client.post("/api/v1/compare/", json={"prompt": "Describe", "attachments": [image_id],
                                                           "models": ["anthropic/describe", "openai/echo"]})
    assert response.status_code == 400 and response.json()["code"] == "unsupported_attachment"
    assert not await Message.objects.aexists()
