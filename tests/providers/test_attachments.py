"""Attachments in each wire protocol: the exact parts each adapter writes, and the bytes arriving intact at the
fake provider (which checks the parts like the real APIs and describes what it got)."""
import base64
import hashlib
import struct
import zlib

import pytest

from providers import errors
from providers.anthropic_messages import AnthropicMessagesAdapter
from providers.base import Attachment, ChatMessage, ChatRequest
from providers.gateway import resolve_route
from providers.gemini_generate import GeminiGenerateAdapter
from providers.openai_chat import OpenAIChatAdapter
from tests.providers.streaming import collect, model_name
from tests.providers.test_request_building import route


def png(width: int = 2, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
NOTES = "# Notes\n\nçà et là: 日本語\n"
IMAGE = Attachment(kind="image", media_type="image/png", name="dot.png", data=PNG)
DOCUMENT = Attachment(kind="pdf", media_type="application/pdf", name="report.pdf", data=PDF)
TEXT = Attachment(kind="text", media_type="text/markdown", name="notes.md", text=NOTES)
REMOTE = Attachment(kind="image", media_type="image/jpeg", url="https://images.example/cat.jpg")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def request(*attachments, text="What is in these?") -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text, attachments=list(attachments))])


# --- the wire forms ------------------------------------------------------------------------------

def test_openai_parts_come_before_the_text():
    body = OpenAIChatAdapter().build_call(route("openai", "openai_chat"),
                                          request(IMAGE, DOCUMENT, TEXT, REMOTE)).json
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
        {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{b64(PDF)}"}},
        {"type": "text", "text": f"File: notes.md\n\n{NOTES}"},
        {"type": "image_url", "image_url": {"url": "https://images.example/cat.jpg"}},
        {"type": "text", "text": "What is in these?"},
    ]


def test_anthropic_blocks():
    body = AnthropicMessagesAdapter().build_call(route("anthropic", "anthropic_messages"),
                                                 request(IMAGE, DOCUMENT, TEXT, REMOTE)).json
    assert body["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": b64(PDF)}},
        {"type": "text", "text": f"File: notes.md\n\n{NOTES}"},
        {"type": "image", "source": {"type": "url", "url": "https://images.example/cat.jpg"}},
        {"type": "text", "text": "What is in these?"},
    ]


def test_gemini_parts():
    body = GeminiGenerateAdapter().build_call(route("gemini", "gemini_generate"),
                                              request(IMAGE, DOCUMENT, TEXT, REMOTE)).json
    assert body["contents"][0]["parts"] == [
        {"inline_data": {"mime_type": "image/png", "data": b64(PNG)}},
        {"inline_data": {"mime_type": "application/pdf", "data": b64(PDF)}},
        {"text": f"File: notes.md\n\n{NOTES}"},
        {"file_data": {"mime_type": "image/jpeg", "file_uri": "https://images.example/cat.jpg"}},
        {"text": "What is in these?"},
    ]


def test_attachments_alone_send_no_empty_text():
    openai = OpenAIChatAdapter().build_call(route("openai", "openai_chat"), request(IMAGE, text="")).json
    anthropic = AnthropicMessagesAdapter().build_call(route("anthropic", "anthropic_messages"),
                                                      request(IMAGE, text="")).json
    gemini = GeminiGenerateAdapter().build_call(route("gemini", "gemini_generate"), request(IMAGE, text="")).json
    assert [part["type"] for part in openai["messages"][0]["content"]] == ["image_url"]
    assert [block["type"] for block in anthropic["messages"][0]["content"]] == ["image"]
    assert list(gemini["contents"][0]["parts"][0]) == ["inline_data"] and len(gemini["contents"][0]["parts"]) == 1


def test_messages_without_attachments_are_unchanged_on_the_wire():
    plain = ChatRequest(messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello"),
                                  ChatMessage("user", "again")])
    assert OpenAIChatAdapter().build_call(route("openai", "openai_chat"), plain).json["messages"] == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"}]
    assert AnthropicMessagesAdapter().build_call(route("anthropic", "anthropic_messages"), plain).json[
        "messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                        {"role": "user", "content": "again"}]
    assert GeminiGenerateAdapter().build_call(route("gemini", "gemini_generate"), plain).json["contents"] == [
        {"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]},
        {"role": "user", "parts": [{"text": "again"}]}]


def test_only_user_messages_carry_attachments():
    stray = ChatRequest(messages=[ChatMessage("user", "hi"),
                                  ChatMessage("assistant", "hello", attachments=[IMAGE])])
    body = OpenAIChatAdapter().build_call(route("openai", "openai_chat"), stray).json
    assert body["messages"][1] == {"role": "assistant", "content": "hello"}


# --- through the fake provider, over a real socket ----------------------------------------------

FAMILIES = ("openai", "anthropic", "gemini", "openrouter")


def described(data: bytes, kind: str, media_type: str, name: str, message: int) -> str:
    return f"- message {message}: {kind} {media_type} {len(data)} bytes sha256={sha(data)} name={name}\n"


@pytest.mark.django_db
@pytest.mark.parametrize("provider", FAMILIES)
def test_every_kind_arrives_with_its_bytes(fake_provider, provider):
    outcome = collect(resolve_route(model=model_name(provider, "describe"), user_id=None),
                      request(IMAGE, DOCUMENT, TEXT))
    assert outcome.error is None
    # OpenAI's file part carries the file name; Anthropic's and Gemini's PDF parts do not.
    pdf_name = "report.pdf" if provider in ("openai", "openrouter") else ""
    assert outcome.text == "3 attachment(s):\n" + "".join([
        described(PNG, "image", "image/png", "", 0),
        described(PDF, "pdf", "application/pdf", pdf_name, 0),
        described(NOTES.encode(), "text", "text/plain", "notes.md", 0),
    ])
    (sent,) = [r for r in fake_provider.requests() if r["json"]]
    assert [item["sha256"] for item in sent["attachments"]] == [sha(PNG), sha(PDF), sha(NOTES.encode())]


@pytest.mark.django_db
@pytest.mark.parametrize("provider", FAMILIES)
def test_earlier_turns_keep_their_attachments(fake_provider, provider):
    history = ChatRequest(messages=[
        ChatMessage("user", "look", attachments=[IMAGE]), ChatMessage("assistant", "a red dot"),
        ChatMessage("user", "and this?", attachments=[TEXT]),
    ])
    outcome = collect(resolve_route(model=model_name(provider, "describe"), user_id=None), history)
    assert outcome.error is None
    assert outcome.text == "2 attachment(s):\n" + described(PNG, "image", "image/png", "", 0) + described(
        NOTES.encode(), "text", "text/plain", "notes.md", 2)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", FAMILIES)
def test_echo_answers_the_message_text_not_the_attached_file(fake_provider, provider):
    outcome = collect(resolve_route(model=model_name(provider, "echo"), user_id=None), request(TEXT, text="hi"))
    assert outcome.text == "You said: hi"


@pytest.mark.django_db
@pytest.mark.parametrize("provider", FAMILIES)
def test_the_fake_refuses_bytes_that_are_not_what_they_claim(fake_provider, provider):
    liar = Attachment(kind="image", media_type="image/png", name="x.png", data=b"GIF89a not a png")
    outcome = collect(resolve_route(model=model_name(provider, "describe"), user_id=None), request(liar))
    assert isinstance(outcome.error, errors.BadRequest)
    assert "does not match its media type" in outcome.error.message
    assert not outcome.events
