"""Presets over REST: saved model, system prompt and params, per user."""
import pytest

from chats.models import Preset

pytestmark = pytest.mark.django_db

URL = "/api/v1/presets/"


def test_preset_crud(api, user):
    created = api.post(URL, {"name": "Terse", "model": "openai/gpt-4o", "system_prompt": "Be brief.",
                             "params": {"temperature": 0.1}}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "name", "model", "system_prompt", "params", "created_at", "updated_at"}
    preset_url = f"{URL}{body['id']}/"
    assert api.get(preset_url).json()["name"] == "Terse"
    updated = api.patch(preset_url, {"params": {"reasoning_effort": "low"}}, format="json")
    assert updated.status_code == 200 and updated.json()["params"] == {"reasoning_effort": "low"}
    assert updated.json()["model"] == "openai/gpt-4o"
    assert [p["name"] for p in api.get(URL).json()["results"]] == ["Terse"]
    assert api.delete(preset_url).status_code == 204
    assert api.get(preset_url).status_code == 404


def test_duplicate_name_is_409(api):
    assert api.post(URL, {"name": "Same"}, format="json").status_code == 201
    response = api.post(URL, {"name": "Same"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "duplicate_name"
    other = api.post(URL, {"name": "Other"}, format="json").json()
    rename = api.patch(f"{URL}{other['id']}/", {"name": "Same"}, format="json")
    assert rename.status_code == 409
    assert Preset.objects.filter(name="Same").count() == 1


@pytest.mark.parametrize(
    "payload",
    [{}, {"name": ""}, {"name": "x", "model": "bad"}, {"name": "x", "params": {"temperature": 3}},
     {"name": "x", "extra": 1}, {"name": "n" * 101}],
)
def test_bad_presets_are_rejected(api, payload):
    assert api.post(URL, payload, format="json").status_code == 400
    assert not Preset.objects.exists()


def test_newest_first(api):
    for name in ("a", "b", "c"):
        api.post(URL, {"name": name}, format="json")
    assert [p["name"] for p in api.get(URL).json()["results"]] == ["c", "b", "a"]


@pytest.mark.parametrize("bad_id", ["abc", "99999"])
def test_bad_ids_are_404(api, bad_id):
    assert api.get(f"{URL}{bad_id}/").status_code == 404
