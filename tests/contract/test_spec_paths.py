"""SPEC §3 paths as clients type them: the trailing slash may be left off, and nothing else changes."""
import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_get_without_trailing_slash_is_served_not_redirected():
    response = Client().get("/api/v1/health")
    assert response.status_code == 200
    assert json.loads(response.content)["status"] in ("ok", "degraded")


def test_post_without_trailing_slash_creates(api):
    response = api.post("/api/v1/conversations", {"title": "No slash"}, format="json")
    assert response.status_code == 201
    assert api.get("/api/v1/conversations/").json()["results"][0]["title"] == "No slash"


def test_unknown_path_without_slash_is_still_a_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert json.loads(response.content) == {"detail": "Not found.", "code": "not_found"}


def test_ids_in_paths_without_slash(api, user):
    from chats.services import conversation_create

    conversation = conversation_create(owner=user, title="Detail")
    assert api.get(f"/api/v1/conversations/{conversation.id}").json()["title"] == "Detail"
    assert api.get(f"/api/v1/conversations/{conversation.id}/messages").status_code == 200
