"""Export (JSON tree, Markdown branch), import (Parley JSON, ChatGPT conversations.json) and share links."""
import io
import json

import pytest
from django.test import Client

from chats.models import Conversation, Message
from chats.services import conversation_create, message_create

pytestmark = pytest.mark.django_db


def _answer(conversation, question, content, model="openai/echo", selected=True):
    return Message.objects.create(conversation=conversation, role="assistant", reply_to=question, content=content,
                                  model=model, selected=selected)


@pytest.fixture
def branched(user):
    """hi → (old answer | new answer, selected) → follow-up under the new one."""
    conversation = conversation_create(owner=user, title="Trip plans", system_prompt="Be brief")
    question = message_create(conversation=conversation, content="hi")
    _answer(conversation, question, "old answer", selected=False)
    new = _answer(conversation, question, "new answer")
    follow_up = message_create(conversation=conversation, content="and then?")
    _answer(conversation, follow_up, "then this")
    assert follow_up.parent_id == new.pk
    return conversation


def test_json_export_has_the_whole_tree_and_imports_back(api, branched):
    response = api.get(f"/api/v1/conversations/{branched.pk}/export/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    exported = response.json()
    assert exported["format"] == "parley.conversation" and exported["conversation"]["title"] == "Trip plans"
    assert len(exported["messages"]) == 5
    by_content = {m["content"]: m for m in exported["messages"]}
    assert by_content["old answer"]["parent_id"] == by_content["hi"]["id"] == by_content["new answer"]["parent_id"]
    response = api.post("/api/v1/conversations/import/", exported, format="json")
    assert response.status_code == 201
    (new_id,) = response.json()["conversation_ids"]
    branch = api.get(f"/api/v1/conversations/{new_id}/messages/").json()["results"]
    assert [m["content"] for m in branch] == ["hi", "new answer", "and then?", "then this"]
    assert (branch[1]["sibling_index"], branch[1]["sibling_count"]) == (1, 2)
    assert Conversation.objects.get(pk=new_id).system_prompt == "Be brief"


def test_markdown_export_is_the_current_branch(api, branched):
    response = api.get(f"/api/v1/conversations/{branched.pk}/export/?format=markdown")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith("# Trip plans") and "new answer" in text and "then this" in text
    assert "old answer" not in text
    assert api.get(f"/api/v1/conversations/{branched.pk}/export/?format=pdf").json()["code"] == "invalid"


def test_export_and_share_belong_to_the_owner(other_api, branched):
    for method, path in [("get", "export/"), ("post", "share/"), ("delete", "share/")]:
        response = getattr(other_api, method)(f"/api/v1/conversations/{branched.pk}/{path}")
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path


def chatgpt_export() -> list[dict]:
    """ChatGPT's conversations.json shape: a list of conversations whose `mapping` nodes name parent and children;
    the root has no message, a hidden system message sits before the first user turn, and the user edited their
    question (two user children), `current_node` being the end of the edited branch."""
    def node(key, parent, children, role=None, text=None, when=0):
        message = None if role is None else {
            "id": key, "author": {"role": role}, "create_time": when,
            "content": {"content_type": "text", "parts": [text]}, "metadata": {"model_slug": "gpt-4o"}}
        return {"id": key, "parent": parent, "children": children, "message": message}

    mapping = {
        "root": node("root", None, ["sys"]),
        "sys": node("sys", "root", ["q1", "q2"], "system", ""),
        "q1": node("q1", "sys", ["a1"], "user", "What is a CRDT?", 1),
        "a1": node("a1", "q1", [], "assistant", "A data type that merges.", 2),
        "q2": node("q2", "sys", ["a2"], "user", "What is a CRDT, briefly?", 3),
        "a2": node("a2", "q2", [], "assistant", "Mergeable data.", 4),
    }
    return [{"title": "CRDTs", "create_time": 1, "mapping": mapping, "current_node": "a2"}]


def test_chatgpt_export_imports_as_a_tree_from_a_file(api):
    upload = io.BytesIO(json.dumps(chatgpt_export()).encode())
    upload.name = "conversations.json"
    response = api.post("/api/v1/conversations/import/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    (new_id,) = response.json()["conversation_ids"]
    conversation = Conversation.objects.get(pk=new_id)
    assert conversation.title == "CRDTs"
    branch = api.get(f"/api/v1/conversations/{new_id}/messages/").json()["results"]
    assert [(m["role"], m["content"]) for m in branch] == [("user", "What is a CRDT, briefly?"),
                                                           ("assistant", "Mergeable data.")]
    assert branch[0]["sibling_count"] == 2 and branch[1]["model"] == "openai/gpt-4o"
    whole = api.get(f"/api/v1/conversations/{new_id}/messages/?tree=1").json()["results"]
    assert {m["content"] for m in whole} == {"What is a CRDT?", "A data type that merges.",
                                             "What is a CRDT, briefly?", "Mergeable data."}


@pytest.mark.parametrize("body", [
    {"title": "x"},
    [{"title": "x", "mapping": {"a": {"parent": "missing", "message": None}}}],
    [{"title": "x", "mapping": {"a": {"parent": None, "message": {"author": {"role": "user"}, "content": 5}}}}],
    {"format": "parley.conversation", "conversation": {}, "messages": [{"id": "1", "parent_id": "2", "role": "user",
                                                                         "content": "x"}]},
    {"format": "parley.conversation", "conversation": {}, "messages": [{"id": "1", "parent_id": None,
                                                                         "role": "wizard", "content": "x"}]},
    [],
])
def test_a_malformed_import_is_400_and_imports_nothing(api, body):
    good = chatgpt_export()[0]
    payload = [good, *body] if isinstance(body, list) and body else body
    response = api.post("/api/v1/conversations/import/", payload, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_import")
    assert not Conversation.objects.exists()


def test_a_file_that_is_not_json_is_invalid_import(api):
    upload = io.BytesIO(b"not json at all")
    upload.name = "conversations.json"
    response = api.post("/api/v1/conversations/import/", {"file": upload}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_import")


def test_share_link_shows_the_branch_at_share_time_and_is_gone_after_revoke(api, branched):
    response = api.post(f"/api/v1/conversations/{branched.pk}/share/")
    assert response.status_code == 201
    share = response.json()
    assert share["url"].endswith(f"/s/{share['token']}/")
    message_create(conversation=branched, content="written after sharing")
    anonymous = Client()
    page = anonymous.get(f"/s/{share['token']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "new answer" in html and "then this" in html and "Trip plans" in html
    assert "old answer" not in html and "written after sharing" not in html and "Be brief" not in html
    assert "ada" not in html and branched.owner.username not in html
    assert api.delete(f"/api/v1/conversations/{branched.pk}/share/").status_code == 204
    assert anonymous.get(f"/s/{share['token']}/").status_code == 404
    assert api.delete(f"/api/v1/conversations/{branched.pk}/share/").status_code == 404
