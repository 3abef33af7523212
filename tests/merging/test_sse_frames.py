"""Merge and compare SSE frames: ids numbered per response, events kept whole, a ping on every quiet spell."""
import asyncio
import json

from core.sse import numbered_frames


async def _events(script):
    for step in script:
        if isinstance(step, float):
            await asyncio.sleep(step)
        else:
            yield step


async def _frames(script, ping_every):
    return [frame async for frame in numbered_frames(_events(script), ping_every=ping_every)]


async def test_frames_are_numbered_and_keep_each_event_whole():
    frames = await _frames([{"type": "content", "seq": 7, "content": "a"}, {"type": "done", "seq": 8}], 5.0)
    assert [frame.decode().split("\n")[0] for frame in frames] == ["id: 1", "id: 2"]
    first = frames[0].decode().split("\n")
    assert first[1] == "event: content"
    assert json.loads(first[2].removeprefix("data: ")) == {"type": "content", "seq": 7, "content": "a"}


async def test_a_source_that_only_says_it_is_idle_still_gets_pings():
    # merge_job_events yields None on every recheck, more often than the ping interval.
    script = [None, 0.05, None, 0.05, None, 0.05, None, 0.05, None, 0.05, None, {"type": "done"}]
    frames = await _frames(script, ping_every=0.12)
    assert b": ping\n\n" in frames
    assert frames[-1].startswith(b"id: 1\nevent: done\n")
