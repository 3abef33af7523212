"""Which tools `params.tools` offers the model: specs resolved per user, names valid in every wire format."""
import re

import pytest
from django.core.exceptions import ValidationError

from tools.models import McpServer, ServerStatus
from tools.selectors import offered_tools

CALC = [{"name": "add", "description": "Add two numbers.", "input_schema": {"type": "object"}},
        {"name": "fail", "description": "Always fails.", "input_schema": {"type": "object"}}]


def server(owner, name, tools=CALC, **fields):
    return McpServer.objects.create(owner=owner, name=name, url="http://93.184.215.14/mcp", tools=tools,
                                    status=ServerStatus.CONNECTED, **fields)


def test_specs_name_one_tool_or_all_of_a_server(user):
    server(user, "calc")
    assert [t["name"] for t in offered_tools(user=user, specs=["calc/fail"])] == ["calc/fail"]
    offered = offered_tools(user=user, specs=["calc/*", "calc/add"])
    assert [t["name"] for t in offered] == ["calc/add", "calc/fail"]
    assert offered[0]["description"] == "Add two numbers." and offered[0]["tool"] == "add"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", t["wire_name"]) for t in offered)


def test_the_same_tool_name_on_two_servers_is_two_tools(user, make_user):
    server(user, "calc")
    server(None, "other", tools=[{"name": "add", "description": "Multiplies.", "input_schema": {}}])
    offered = offered_tools(user=user, specs=["calc/add", "other/add"])
    assert [t["name"] for t in offered] == ["calc/add", "other/add"]
    assert len({t["wire_name"] for t in offered}) == 2
    assert {t["server_id"] for t in offered} == set(McpServer.objects.values_list("pk", flat=True))


def test_long_names_stay_unique_and_valid(user):
    long_tool = "t" * 80
    server(user, "a" * 32, tools=[{"name": long_tool + "1", "description": "", "input_schema": {}},
                                  {"name": long_tool + "2", "description": "", "input_schema": {}}])
    offered = offered_tools(user=user, specs=["a" * 32 + "/*"])
    names = [t["wire_name"] for t in offered]
    assert len(set(names)) == 2 and all(len(n) <= 64 for n in names)


def test_own_server_wins_a_name_shared_with_an_admins(user):
    shared = server(None, "calc", tools=[{"name": "shared_only", "description": "", "input_schema": {}}])
    own = server(user, "calc")
    assert {t["server_id"] for t in offered_tools(user=user, specs=["calc/*"])} == {own.pk}
    assert shared.pk != own.pk


@pytest.mark.parametrize("spec,code", [
    ("calc", "invalid_tool"), ("calc/add/x", "invalid_tool"), ("/add", "invalid_tool"), ("calc/", "invalid_tool"),
    ("nope/add", "unknown_tool_server"), ("theirs/add", "unknown_tool_server"), ("calc/nope", "unknown_tool"),
    ("off/add", "tool_server_disabled"),
])
def test_bad_specs_are_clear_errors(user, other_user, spec, code):
    server(user, "calc")
    server(user, "off", enabled=False)
    server(other_user, "theirs")
    with pytest.raises(ValidationError) as caught:
        offered_tools(user=user, specs=[spec])
    assert caught.value.error_dict["tools"][0].code == code
