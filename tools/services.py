"""Writes of MCP servers and their checks: validation, the SSRF guard, encrypted headers, status refresh.

stdio servers (a local command) exist only when an admin adds one and settings.PARLEY_MCP_ALLOW_STDIO is on;
with the setting off, the stored ones are not started (their status says so).
"""
import re
import shlex
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tools import client
from tools.models import NAME_PATTERN, McpServer, ServerStatus, Transport

MAX_HEADERS = 20
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers a client must not set itself: they belong to the transport.
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "mcp-session-id",
                     "mcp-protocol-version", "content-type", "accept"}
LIST_DEADLINE_SECONDS = 15
MAX_ENV = 50
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
STDIO_DISABLED = "stdio servers are disabled on this deployment."


class StdioNotAllowed(Exception):
    """Creating or changing a stdio server by someone who may not (not an admin, or the deployment forbids it)."""

    code = "stdio_not_allowed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def check_url(url: str, *, owner) -> None:
    """http(s), no credentials; a non-admin's URL must not resolve to a loopback, private or link-local address."""
    from providers import errors
    from providers.transport import check_host_allowed

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _field_error("url", "Enter an http(s) URL.", "invalid_url")
    if parts.username or parts.password or parts.fragment:
        raise _field_error("url", "A server URL carries no user, password or fragment; send credentials as headers.",
                           "credentials_in_url")
    if owner is not None and not owner.is_staff:
        try:
            check_host_allowed(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except errors.BlockedEndpoint as exc:
            raise _field_error("url", exc.message, "blocked_endpoint") from None


def check_headers(headers) -> dict[str, str]:
    if not isinstance(headers, dict):
        raise _field_error("headers", "Send headers as an object of name: value strings.", "invalid")
    if len(headers) > MAX_HEADERS:
        raise _field_error("headers", f"At most {MAX_HEADERS} headers.", "too_many")
    clean = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise _field_error("headers", f"{str(name)[:100]!r} is not a header this server may be sent.", "invalid")
        if not isinstance(value, str) or len(value) > 8192 or any(c in value for c in "\r\n\0"):
            raise _field_error("headers", f"The value of {name!r} must be one line of text (up to 8 KB).", "invalid")
        clean[name] = value
    return clean


def _check_name(name: str, *, owner, exclude_id=None) -> None:
    if not re.match(NAME_PATTERN, name or ""):
        raise _field_error("name", "Use 1 to 32 of a-z, 0-9, _ and -.", "invalid")
    taken = McpServer.objects.filter(name=name)
    taken = taken.filter(owner__isnull=True) if owner is None else taken.filter(owner=owner)
    if taken.exclude(pk=exclude_id).exists():
        raise _field_error("name", f"There is already a server called {name!r}.", "name_taken")


def stdio_allowed(actor) -> bool:
    return bool(getattr(settings, "PARLEY_MCP_ALLOW_STDIO", False)) and actor is not None and actor.is_staff


def _check_stdio_actor(actor) -> None:
    if not getattr(settings, "PARLEY_MCP_ALLOW_STDIO", False):
        raise StdioNotAllowed("stdio servers are disabled on this deployment (PARLEY_MCP_ALLOW_STDIO).")
    if actor is None or not actor.is_staff:
        raise StdioNotAllowed("Only admins may add or change stdio servers.")


def _check_transport(transport: str) -> None:
    if transport not in Transport.values:
        raise _field_error("transport", "Use streamable_http, sse or stdio.", "invalid_choice")


def parse_command(command: str) -> list[str]:
    """A stdio server's command line as argv (shlex, POSIX rules); ValidationError (field `command`) when unusable."""
    if not isinstance(command, str) or not command.strip():
        raise _field_error("command", "A stdio server needs the command that starts it.", "required")
    if len(command) > 1000 or "\0" in command:
        raise _field_error("command", "The command line must be up to 1,000 characters of text.", "invalid")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise _field_error("command", f"The command line cannot be read ({exc}).", "invalid") from None
    if not argv:
        raise _field_error("command", "A stdio server needs the command that starts it.", "required")
    return argv


def check_env(env) -> dict[str, str]:
    if not isinstance(env, dict):
        raise _field_error("env", "Send env as an object of NAME: value strings.", "invalid")
    if len(env) > MAX_ENV:
        raise _field_error("env", f"At most {MAX_ENV} variables.", "too_many")
    clean = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise _field_error("env", f"{str(name)[:100]!r} is not an environment variable name.", "invalid")
        if not isinstance(value, str) or len(value) > 8192 or "\0" in value:
            raise _field_error("env", f"The value of {name!r} must be text (up to 8 KB).", "invalid")
        clean[name] = value
    return clean


def _check_fields_fit(transport: str, *, url=None, headers=None, command=None, env=None) -> None:
    """A stdio server has a command (and env), no URL or headers; an HTTP one the other way round."""
    if transport == Transport.STDIO:
        for field, value in (("url", url), ("headers", headers)):
            if value:
                raise _field_error(field, f"A stdio server has no {field}; give its command (and env).", "invalid")
    else:
        for field, value in (("command", command), ("env", env)):
            if value:
                raise _field_error(field, f"Only a stdio server has a {field}.", "invalid")


@transaction.atomic
def mcp_server_create(*, owner, name: str, url: str = "", transport: str = Transport.STREAMABLE_HTTP,
                      headers: dict | None = None, command: str = "", env: dict | None = None,
                      actor=None) -> McpServer:
    """`owner` None makes the server shared (the caller checks that an admin asked). `actor`: who asks (the owner
    when not given); a stdio server (`command`, `env`) needs an admin and PARLEY_MCP_ALLOW_STDIO (StdioNotAllowed)."""
    actor = actor if actor is not None else owner
    _check_transport(transport)
    if transport == Transport.STDIO:
        _check_stdio_actor(actor)
    _check_name(name, owner=owner)
    _check_fields_fit(transport, url=url, headers=headers, command=command, env=env)
    server = McpServer(owner=owner, name=name, transport=transport)
    if transport == Transport.STDIO:
        server.command = shlex.join(parse_command(command))
        server.set_env(check_env(env or {}))
    else:
        if not url:
            raise _field_error("url", "This field is required.", "required")
        check_url(url, owner=owner)
        server.url = url
        server.set_headers(check_headers(headers or {}))
    server.save()
    return server


@transaction.atomic
def mcp_server_update(*, server: McpServer, actor, **changes) -> McpServer:
    """PATCH: any of name, url, transport, headers (replaced whole), command, env (replaced whole), enabled. A new
    URL, transport, headers, command or env make the last check's status and tools stale (status `unknown`).
    Turning a server into a stdio one, or changing a stdio server's command or env, needs an admin and
    PARLEY_MCP_ALLOW_STDIO (StdioNotAllowed)."""
    if "transport" in changes:
        _check_transport(changes["transport"])
    transport = changes.get("transport", server.transport)
    _check_fields_fit(transport, **{key: changes[key] for key in ("url", "headers", "command", "env")
                                    if key in changes})
    if transport == Transport.STDIO and (server.transport != Transport.STDIO or {"command", "env"} & set(changes)):
        _check_stdio_actor(actor)
    if "name" in changes:
        _check_name(changes["name"], owner=server.owner, exclude_id=server.pk)
        server.name = changes["name"]
    if transport == Transport.STDIO:
        if "command" in changes or server.transport != Transport.STDIO:
            server.command = shlex.join(parse_command(changes.get("command", server.command)))
        if "env" in changes:
            server.set_env(check_env(changes["env"] or {}))
        server.url = ""
        server.set_headers({})
    else:
        if "url" in changes:
            check_url(changes["url"], owner=server.owner if server.owner_id else actor)
            server.url = changes["url"]
        elif server.transport == Transport.STDIO:
            raise _field_error("url", "Give the URL of the server this one becomes.", "required")
        if "headers" in changes:
            server.set_headers(check_headers(changes["headers"] or {}))
        server.command = ""
        server.set_env({})
    server.transport = transport
    if "enabled" in changes:
        server.enabled = bool(changes["enabled"])
    if {"url", "transport", "headers", "command", "env"} & set(changes):
        server.status, server.error, server.tools, server.last_checked_at = ServerStatus.UNKNOWN, "", [], None
    server.save()
    return server


def mcp_server_delete(*, server: McpServer) -> None:
    server.delete()


def connection_for(server: McpServer) -> dict:
    """url, transport and headers for the client; the SSRF guard runs again (the address may have changed).
    A stdio server: its argv and env, only while PARLEY_MCP_ALLOW_STDIO is on and it is shared or an admin's."""
    from core.encryption import SecretUndecryptable

    if server.transport == Transport.STDIO:
        if not getattr(settings, "PARLEY_MCP_ALLOW_STDIO", False):
            raise _field_error("transport", STDIO_DISABLED, "stdio_disabled")
        if server.owner is not None and not server.owner.is_staff:
            raise _field_error("transport", "Only an admin's stdio servers are started.", "stdio_not_allowed")
        try:
            env = server.get_env()
        except SecretUndecryptable:
            raise _field_error("env", "The stored environment cannot be decrypted (the encryption key changed); "
                               "enter it again.", "undecryptable") from None
        return {"transport": server.transport, "command": parse_command(server.command), "env": env}
    check_url(server.url, owner=server.owner)
    try:
        headers = server.get_headers()
    except SecretUndecryptable:
        raise _field_error("headers", "The stored headers cannot be decrypted (the encryption key changed); "
                           "enter them again.", "undecryptable") from None
    guarded = server.owner is not None and not server.owner.is_staff
    return {"url": server.url, "transport": server.transport, "headers": headers, "guarded": guarded}


def _first_message(exc: ValidationError) -> str:
    return next(iter(exc.messages), "Refused.")


def mcp_server_refresh(*, server: McpServer) -> McpServer:
    """Connect, list the tools, store status and tools (or the error). Never raises for a bad server."""
    try:
        tools = async_to_sync(client.list_tools)(**connection_for(server), deadline=LIST_DEADLINE_SECONDS)
    except ValidationError as exc:
        server.status, server.error = ServerStatus.ERROR, _first_message(exc)[:500]
    except client.McpError as exc:
        server.status, server.error = ServerStatus.ERROR, str(exc)[:500]
    else:
        server.status, server.error, server.tools = ServerStatus.CONNECTED, "", tools
    server.last_checked_at = timezone.now()
    McpServer.objects.filter(pk=server.pk).update(status=server.status, error=server.error, tools=server.tools,
                                                  last_checked_at=server.last_checked_at)
    return server


def mcp_servers_refresh_all() -> dict[str, int]:
    """The beat task's work: check every enabled server, one at a time (each bounded by its deadline)."""
    counts = {"connected": 0, "error": 0}
    for server in McpServer.objects.filter(enabled=True).select_related("owner").iterator():
        server = mcp_server_refresh(server=server)
        counts["connected" if server.status == ServerStatus.CONNECTED else "error"] += 1
    return counts


def mcp_tool_call(*, server: McpServer, name: str, arguments: dict | None = None) -> client.ToolResult:
    """Call one tool of a stored server; every failure is an error result (`mcp_tool_call_async` for async code)."""
    return async_to_sync(mcp_tool_call_async)(server=server, name=name, arguments=arguments)


async def mcp_tool_call_async(*, server: McpServer, name: str, arguments: dict | None = None) -> client.ToolResult:
    """The same call for async callers (the generation's tool loop); the SSRF check (DNS, the owner's row) runs
    in the sync thread."""
    from asgiref.sync import sync_to_async

    try:
        connection = await sync_to_async(connection_for)(server)
    except ValidationError as exc:
        return client.ToolResult(content=_first_message(exc), is_error=True)
    return await client.call_tool(**connection, name=name, arguments=arguments,
                                  deadline=settings.PARLEY_TOOL_TIMEOUT,
                                  max_chars=settings.PARLEY_TOOL_RESULT_MAX_CHARS)
