"""A database outage while a reply streams is logged once by the slice persister, not once per slice (a traceback
every 40 ms would bury everything else in the log), and its end is logged when writing works again."""
import json

import httpx
import pytest

from tests.chats.streaming_client import story_text
from tests.faults.test_engine_faults import new_conversation
from tests.fixtures.fake_provider import fake_provider_env

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("fake_provider")]


def test_the_persister_logs_a_database_outage_once_and_its_end(start_web_process, fake_provider, token,
                                                                 test_database, capfd):
    from tests.fixtures.faults import forget_dead_connections

    web = start_web_process(**fake_provider_env(fake_provider))
    auth = {"Authorization": f"Bearer {token}"}
    conversation_id = new_conversation(web.url, auth, "Outage log")
    capfd.readouterr()
    seen: list[dict] = []
    with httpx.stream("POST", f"{web.url}/api/v1/conversations/{conversation_id}/completions/", headers=auth,
                      json={"content": "Tell me a story", "model": "openai/story-120-20"}, timeout=60) as reply:
        lines = (json.loads(line[5:]) for line in reply.iter_lines() if line.startswith("data:"))
        seen += [next(lines) for _ in range(5)]
        with test_database.down():
            # ~30 tokens at 20 ms: the persister's slices fail for most of a second, a dozen times or more.
            seen += [next(lines) for _ in range(30)]
        forget_dead_connections()
        seen += list(lines)
    assert seen[-1]["type"] == "done" and seen[-1]["status"] == "complete"
    assert "".join(e.get("content", "") for e in seen if e["type"] == "content") == story_text(120)

    err = capfd.readouterr().err
    failed = [line for line in err.splitlines() if "Persisting generation events failed" in line]
    assert len(failed) == 1, err[-3000:]
    assert len([line for line in err.splitlines() if "Persisting generation events works again" in line]) == 1
