"""Reads of MCP servers: a user sees their own and the shared ones; anyone else's is not there (404)."""
from django.db.models import Q, QuerySet

from tools.models import McpServer


def mcp_server_list(*, user) -> QuerySet[McpServer]:
    return McpServer.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by("name", "owner_id")


def mcp_server_get(*, user, server_id) -> McpServer | None:
    try:
        server_id = int(server_id)
    except (TypeError, ValueError):
        return None
    return mcp_server_list(user=user).filter(pk=server_id).first()


WIRE_NAME_MAX = 64  # OpenAI's limit on a function name (^[a-zA-Z0-9_-]{1,64}$), the tightest of the three


def _wire_name(server: str, tool: str, taken: set[str]) -> str:
    """A name every wire format accepts, unique in this offer: <server>__<tool>, cleaned and shortened."""
    import re

    base = re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")[:WIRE_NAME_MAX]
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[:WIRE_NAME_MAX - len(str(n)) - 1]}_{n}"
    taken.add(name)
    return name


def offered_tools(*, user, specs: list[str]) -> list[dict]:
    """What a conversation's `params.tools` (or a request's `"tools"`) offers the model (SPEC §7).

    Each spec is "<server>/<tool>" or "<server>/*", naming one of the user's servers or a shared one (the
    user's own wins a name both have). Returns `{"name": "<server>/<tool>", "wire_name", "server_id",
    "tool", "description", "input_schema"}` in the order asked, each tool once; `wire_name` is what the
    model sees (unique, valid in OpenAI, Anthropic and Gemini). Raises ValidationError (field `tools`) for a
    malformed spec, a server the user cannot use (another user's is simply unknown), a disabled server, or
    a tool the server did not list at its last check.
    """
    from django.core.exceptions import ValidationError

    def refuse(message: str, code: str):
        return ValidationError({"tools": ValidationError(message, code=code)})

    servers: dict[str, McpServer] = {}
    # Shared ones first, so the user's own replace them (NULLs sort differently per database: sorted here).
    for server in sorted(mcp_server_list(user=user), key=lambda s: s.owner_id is not None):
        servers[server.name] = server
    offered, seen, taken = [], set(), set()
    for spec in specs:
        if not isinstance(spec, str) or spec.count("/") != 1 or not all(spec.split("/")):
            raise refuse(f"{str(spec)[:100]!r} is not <server>/<tool> or <server>/*.", "invalid_tool")
        server_name, tool_name = spec.split("/")
        server = servers.get(server_name)
        if server is None:
            raise refuse(f"There is no MCP server called {server_name!r}.", "unknown_tool_server")
        if not server.enabled:
            raise refuse(f"The MCP server {server_name!r} is disabled.", "tool_server_disabled")
        tools = server.tools if tool_name == "*" else [t for t in server.tools if t["name"] == tool_name]
        if not tools:
            raise refuse(f"The MCP server {server_name!r} lists no tool {tool_name!r} (check it again on the "
                         "tools page if it has changed).", "unknown_tool")
        for tool in tools:
            if (server.pk, tool["name"]) in seen:
                continue
            seen.add((server.pk, tool["name"]))
            offered.append({"name": f"{server.name}/{tool['name']}",
                            "wire_name": _wire_name(server.name, tool["name"], taken), "server_id": server.pk,
                            "tool": tool["name"], "description": tool.get("description", ""),
                            "input_schema": tool.get("input_schema") or {"type": "object"}})
    return offered
