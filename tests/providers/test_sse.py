"""The SSE decoder: same events however the bytes are split, every line-ending style, comments, UTF-8."""
import pytest

from providers.sse import ServerSentEvent, SSEDecoder

STREAM = (
    ": OPENROUTER PROCESSING\n\n"
    "event: message_start\ndata: {\"a\": \"héllo\"}\n\n"
    "id: 7\ndata: first line\ndata: second line\n\n"
    "data:no-space\n\n"
    "data: 日本語 🎉\n\n"
    "retry: 1500\ndata: x\n\n"
    "data: [DONE]\n\n"
).encode()

EXPECTED = [
    ServerSentEvent("message_start", '{"a": "héllo"}'),
    ServerSentEvent("message", "first line\nsecond line", "7"),
    ServerSentEvent("message", "no-space", "7"),
    ServerSentEvent("message", "日本語 🎉", "7"),
    ServerSentEvent("message", "x", "7", 1500),
    ServerSentEvent("message", "[DONE]", "7"),
]


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.flush())
    return events


def test_whole_stream():
    assert decode(STREAM) == EXPECTED


def test_comments_are_counted_not_emitted():
    decoder = SSEDecoder()
    assert decoder.feed(b": ping\n\n: keep-alive\n\n") == []
    assert decoder.comments == 2


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_style(newline):
    assert decode(STREAM.replace(b"\n", newline)) == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_split_at_every_byte_offset(newline):
    data = STREAM.replace(b"\n", newline)
    for cut in range(len(data) + 1):
        assert decode(data[:cut], data[cut:]) == EXPECTED, f"split at {cut}"


def test_one_byte_at_a_time_including_mid_utf8():
    assert decode(*(STREAM[i:i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_three_way_splits_around_a_multibyte_character():
    start = STREAM.index("🎉".encode())
    for a in range(start - 2, start + 5):
        for b in range(a, start + 6):
            assert decode(STREAM[:a], STREAM[a:b], STREAM[b:]) == EXPECTED


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent(data="a"), ServerSentEvent(data="b")]


def test_unterminated_event_at_eof_is_dropped():
    assert decode(b"data: complete\n\ndata: partial") == [ServerSentEvent(data="complete")]


def test_event_without_data_is_not_dispatched():
    assert decode(b"event: ping\n\ndata: x\n\n") == [ServerSentEvent(data="x")]
