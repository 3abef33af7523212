"""Real MCP servers on loopback (the SDK's server side), one set for the whole test session."""
import pytest

from tests.fixtures.mcp_server import mcp_server, start_many_tools, start_not_mcp  # noqa: F401


@pytest.fixture(scope="session")
def many_tools_server():
    server = start_many_tools()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def not_mcp_server():
    server = start_not_mcp()
    yield server
    server.stop()


@pytest.fixture
def dead_url():
    """A loopback port nothing listens on."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/mcp"


def shared_server(name: str, url: str, *, refresh: bool = True):
    """An admin's shared MCP server (its loopback address is allowed), checked once unless `refresh` is False."""
    from tools.models import McpServer
    from tools.services import mcp_server_refresh

    server = McpServer.objects.create(owner=None, name=name, url=url)
    return mcp_server_refresh(server=server) if refresh else server


@pytest.fixture
def calc(mcp_server):  # noqa: F811 - the imported fixture, used
    return shared_server("calc", mcp_server.base + "/mcp")
