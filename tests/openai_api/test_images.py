"""Image parts of /v1 messages reach every protocol as that provider's own image parts."""
import base64
import hashlib
import struct
import zlib

import openai
import pytest

from openai_api.models import GatewayCall


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


PNG = tiny_png()
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def ask(client, model: str, url: str, **extra):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}], **extra)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_data_url_image_arrives_as_its_bytes(gateway, fake_provider, provider):
    answer = ask(gateway.client(), f"{provider}/describe", DATA_URL).choices[0].message.content
    assert f"image image/png {len(PNG)} bytes sha256={hashlib.sha256(PNG).hexdigest()}" in answer
    sent = fake_provider.requests()[-1]["json"]
    if provider == "openai":
        parts = sent["messages"][-1]["content"]
        assert parts[0] == {"type": "image_url", "image_url": {"url": DATA_URL}}
        assert parts[-1] == {"type": "text", "text": "What is this?"}
    elif provider == "anthropic":
        assert sent["messages"][-1]["content"][0]["source"]["media_type"] == "image/png"
    else:
        assert sent["contents"][-1]["parts"][0]["inline_data"]["mime_type"] == "image/png"


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_an_http_image_url_is_passed_as_a_url(gateway, provider):
    url = "https://example.com/cat.png"
    stream = ask(gateway.client(), f"{provider}/describe", url, stream=True)
    answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert f"image url {url}" in answer


@pytest.mark.parametrize("url", ["data:image/png;base64,@@@not-base64", "data:image/png;base64,"
                                 + base64.b64encode(b"just some text").decode(), "ftp://example.com/a.png"])
def test_a_broken_image_is_400_invalid_image(gateway, fake_provider, url):
    with pytest.raises(openai.BadRequestError) as caught:
        ask(gateway.client(), "openai/describe", url)
    assert caught.value.code == "invalid_image"
    assert fake_provider.requests() == []


def test_a_model_without_vision_is_refused_images(gateway, fake_provider):
    client = gateway.client()
    listed = {model.id for model in client.models.list()}  # the catalog now knows what openai/echo can take
    assert "openai/echo" in listed
    fake_provider.clear()
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, "openai/echo", DATA_URL)
    assert caught.value.code == "unsupported_attachment"
    assert fake_provider.requests() == []
    assert not GatewayCall.objects.exists()
