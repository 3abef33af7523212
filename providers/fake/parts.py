"""The attachment parts a request carries, checked as the real APIs check them, and described for `describe`."""
import base64
import binascii
import hashlib
import re

from providers.base import TEXT_HEADING

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# The first bytes each accepted type starts with: a part whose bytes do not match its type is refused, as the
# real APIs refuse an image they cannot decode.
MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",), "image/gif": (b"GIF87a", b"GIF89a"),
         "image/webp": (b"RIFF",), "application/pdf": (b"%PDF-",)}
DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.S)
HEADING = re.compile("^" + re.escape(TEXT_HEADING).replace(re.escape("{name}"), "(?P<name>[^\n]*)"))


class PartError(ValueError):
    """A part a real provider would refuse with 400 invalid_request."""


def attachment_heading(text: str):
    """The match of a text attachment's heading at the start of `text`, or None for a message's own text."""
    return HEADING.match(text)


def found(protocol: str, payload: dict) -> list[dict]:
    """Every attachment in the request's user messages, in order, with `message` its index in the request."""
    if protocol == "anthropic_messages":
        return _scan(payload.get("messages"), "content", _anthropic)
    if protocol == "gemini_generate":
        return _scan(payload.get("contents"), "parts", _gemini)
    return _scan(payload.get("messages"), "content", _openai)


def describe(attachments: list[dict]) -> list[str]:
    """The `describe` model's answer, one line per attachment: what a test compares with what it uploaded."""
    if not attachments:
        return ["No attachments."]
    lines = [f"{len(attachments)} attachment(s):\n"]
    for item in attachments:
        if item["url"]:
            lines.append(f"- message {item['message']}: {item['kind']} url {item['url']}\n")
        else:
            lines.append(f"- message {item['message']}: {item['kind']} {item['media_type']} {item['size']} bytes "
                         f"sha256={item['sha256']} name={item['name']}\n")
    return lines


def _scan(messages, key: str, read) -> list[dict]:
    out = []
    for index, message in enumerate(messages or ()):
        if not isinstance(message, dict) or message.get("role") != "user" or not isinstance(message.get(key), list):
            continue
        for part in message[key]:
            if not isinstance(part, dict):
                raise PartError(f"messages[{index}]: every content part must be an object.")
            item = read(part)
            if item is not None:
                out.append({"message": index, "name": "", "url": "", **item})
    return out


def _openai(part: dict) -> dict | None:
    kind = part.get("type")
    if kind == "text":
        return _text(part.get("text"))
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url") or ""
        if url.startswith(("http://", "https://")):
            return {"kind": "image", "media_type": "", "size": 0, "sha256": "", "url": url}
        media_type, data = _data_url(url)
        return _bytes("image", media_type, data)
    if kind == "file":
        file = part.get("file") or {}
        media_type, data = _data_url(file.get("file_data") or "")
        if media_type != "application/pdf":
            raise PartError(f"Invalid file data: {media_type!r} is not a supported file type.")
        return _bytes("pdf", media_type, data, name=file.get("filename") or "")
    raise PartError(f"Invalid content part type: {kind!r}.")


def _anthropic(part: dict) -> dict | None:
    kind = part.get("type")
    if kind == "text":
        return _text(part.get("text"))
    if kind == "tool_result":
        return None
    if kind in ("image", "document"):
        source = part.get("source") or {}
        if source.get("type") == "url" and kind == "image":
            return {"kind": "image", "media_type": "", "size": 0, "sha256": "", "url": source.get("url") or ""}
        if source.get("type") != "base64":
            raise PartError(f"{kind}.source.type: Input should be 'base64' or 'url'.")
        media_type = source.get("media_type") or ""
        allowed = IMAGE_TYPES if kind == "image" else ("application/pdf",)
        if media_type not in allowed:
            raise PartError(f"{kind}.source.media_type: Input should be one of {', '.join(allowed)}.")
        return _bytes("image" if kind == "image" else "pdf", media_type, _b64(source.get("data")))
    raise PartError(f"Input tag {kind!r} found using 'type' does not match any of the expected tags.")


def _gemini(part: dict) -> dict | None:
    if "text" in part:
        return _text(part.get("text"))
    if "functionResponse" in part:
        return None
    inline = part.get("inline_data") or part.get("inlineData")
    if inline is not None:
        media_type = inline.get("mime_type") or inline.get("mimeType") or ""
        if media_type not in IMAGE_TYPES + ("application/pdf",):
            raise PartError(f"Unsupported MIME type: {media_type}")
        return _bytes("pdf" if media_type == "application/pdf" else "image", media_type, _b64(inline.get("data")))
    remote = part.get("file_data") or part.get("fileData")
    if remote is not None:
        return {"kind": "image", "media_type": remote.get("mime_type") or remote.get("mimeType") or "", "size": 0,
                "sha256": "", "url": remote.get("file_uri") or remote.get("fileUri") or ""}
    raise PartError("Invalid value at 'contents.parts': the part has no data.")


def _text(text) -> dict | None:
    match = attachment_heading(text) if isinstance(text, str) else None
    if match is None:
        return None  # the message's own text
    data = text[match.end():].encode("utf-8")
    return {"kind": "text", "media_type": "text/plain", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "name": match["name"]}


def _data_url(url: str) -> tuple[str, bytes]:
    match = DATA_URL.match(url)
    if match is None:
        raise PartError("Invalid image URL: expected a base64 data URL or an http(s) URL.")
    return match["type"], _b64(match["data"])


def _b64(data) -> bytes:
    try:
        return base64.b64decode(data or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise PartError("Invalid base64 data.") from None


def _bytes(kind: str, media_type: str, data: bytes, *, name: str = "") -> dict:
    if not data:
        raise PartError(f"The {kind} is empty.")
    if kind == "image" and media_type not in IMAGE_TYPES:
        raise PartError(f"Invalid image media type {media_type!r}.")
    if not data.startswith(MAGIC.get(media_type, (b"",))):
        raise PartError(f"The {kind} data does not match its media type {media_type}.")
    return {"kind": kind, "media_type": media_type, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "name": name}
