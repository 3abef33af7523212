"""The MCP client against a real SDK server: listing and calling over both transports, and every bad server."""
import pytest

from tools import client

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("transport,path", [("streamable_http", "/mcp"), ("sse", "/sse-root/sse")])
async def test_lists_and_calls_over_each_transport(mcp_server, transport, path):
    tools = await client.list_tools(url=mcp_server.base + path, transport=transport)
    assert [t["name"] for t in tools] == ["add", "slow", "fail", "image", "big"]
    add = tools[0]
    assert add["description"] == "Add two numbers."
    assert add["input_schema"]["required"] == ["a", "b"]
    result = await client.call_tool(url=mcp_server.base + path, transport=transport, name="add",
                                    arguments={"a": 2, "b": 3})
    assert (result.content, result.is_error) == ("5.0", False)


async def test_a_failing_tool_is_an_error_result(mcp_server):
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="fail")
    assert result.is_error
    assert "fail" in result.content


async def test_an_unknown_tool_is_an_error_result(mcp_server):
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="no_such_tool")
    assert result.is_error
    assert "no_such_tool" in result.content


async def test_an_image_result_is_kept_for_the_model(mcp_server):
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="image")
    assert not result.is_error
    assert result.content == "[image: image/png]"
    assert result.images[0]["mime_type"] == "image/png"
    assert result.images[0]["data"].startswith("iVBOR")


async def test_a_10_mb_result_is_capped(mcp_server):
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="big", arguments={"chars": 10_000_000},
                                    max_chars=20_000)
    assert not result.is_error
    assert result.content.startswith("x" * 20_000)
    assert "truncated: the tool returned 10,000,000 characters, 20,000 kept" in result.content
    assert len(result.content) < 20_200


async def test_a_slow_tool_ends_in_a_timeout_error_result(mcp_server):
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="slow", arguments={"seconds": 30}, deadline=1)
    assert result.is_error
    assert result.content == "The server did not answer in time."


async def test_a_server_that_is_down(dead_url):
    with pytest.raises(client.McpError, match="could not be reached"):
        await client.list_tools(url=dead_url, deadline=5)
    result = await client.call_tool(url=dead_url, name="add", deadline=5)
    assert result.is_error and result.content == "The server could not be reached."


@pytest.mark.parametrize("transport", ["streamable_http", "sse"])
async def test_a_server_that_is_not_mcp(not_mcp_server, transport):
    with pytest.raises(client.McpError, match="did not answer as an MCP server|answered HTTP|in time"):
        await client.list_tools(url=not_mcp_server.base + "/mcp", transport=transport, deadline=5)


async def test_a_server_with_500_tools(many_tools_server):
    tools = await client.list_tools(url=many_tools_server.base + "/mcp")
    assert len(tools) == 501
    assert tools[499]["name"] == "t499"


async def test_a_guarded_connection_refuses_a_loopback_address(mcp_server):
    """What a non-admin's server connects through: the address is checked when connecting, not only when saved."""
    with pytest.raises(client.McpError, match="private, loopback or link-local"):
        await client.list_tools(url=mcp_server.base + "/mcp", guarded=True)
    result = await client.call_tool(url=mcp_server.base + "/mcp", name="add", arguments={"a": 1, "b": 2},
                                    guarded=True)
    assert result.is_error and "private, loopback or link-local" in result.content
    # Unguarded (an admin's server) it connects.
    assert (await client.call_tool(url=mcp_server.base + "/mcp", name="add", arguments={"a": 1, "b": 2})).content \
        == "3.0"
