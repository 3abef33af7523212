"""JSON from clients, within PARLEY_MAX_JSON_BYTES and MAX_JSON_DEPTH: for DRF bodies, streaming views and sockets."""
import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


class JsonTooDeep(exceptions.ParseError):
    default_detail = f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels."
    default_code = "too_deep"


def max_json_bytes() -> int:
    return settings.PARLEY_MAX_JSON_BYTES


def too_large():
    # Imported here: core.exceptions imports DRF's views, whose settings import this module's parser.
    from core.exceptions import PayloadTooLarge

    return PayloadTooLarge(f"A JSON body holds at most {max_json_bytes()} bytes.")


def _depth_exceeds(value, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iteratively: the value may be as deep as the parser allowed)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads_limited(raw: bytes | str):
    """The parsed value; PayloadTooLarge (413 too_large), JsonTooDeep (400 too_deep) or ParseError (400)."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_json_bytes():
        raise too_large()
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep() from None
    except (ValueError, UnicodeDecodeError):
        raise exceptions.ParseError("The body is not valid JSON.") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise JsonTooDeep()
    return value


def declared_length(meta) -> int | None:
    try:
        return int(meta.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, reading no more than PARLEY_MAX_JSON_BYTES (+1 to tell) and refusing deep nesting."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = max_json_bytes()
        length = declared_length(request.META) if request is not None else None
        if length is not None and length > limit:
            raise too_large()
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise too_large()
        return loads_limited(raw)


def _holds_nul(value) -> bool:
    """Whether any key or string holds U+0000 (PostgreSQL stores neither in text nor in JSON)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def decode_frame(text_data: str | None, bytes_data: bytes | None = None) -> dict:
    """A client's WebSocket frame as a JSON object, within the JSON limits; an APIException says what is wrong."""
    if text_data is None:
        raise exceptions.ParseError("Frames are JSON text; binary frames are not accepted.", code="bad_frame")
    try:
        frame = loads_limited(text_data)
    except JsonTooDeep:
        raise
    except exceptions.ParseError:
        raise exceptions.ParseError("The frame is not valid JSON.", code="bad_frame") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise exceptions.ParseError('A frame is a JSON object with a "type".', code="bad_frame")
    if _holds_nul(frame):
        raise exceptions.ParseError("A frame may not contain NUL characters.", code="invalid_characters")
    return frame
