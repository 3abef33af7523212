"""The MCP client, on the official `mcp` SDK: list a server's tools, call one, never hang, never raise.

Every call opens its own session (streamable HTTP, SSE, or a stdio command started for it), bounded as a whole
by a deadline, so a dead, slow or non-MCP server (or command) ends in an `McpError` (listing) or an error
`ToolResult` (calling) within the timeout.
"""
import asyncio
import json
from dataclasses import dataclass, field

import anyio
import httpx2

MAX_TOOLS = 1000
MAX_LIST_PAGES = 20


class McpError(Exception):
    """A server that could not be reached or did not answer as MCP; the message is safe to show."""


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    images: list[dict] = field(default_factory=list)  # {"mime_type", "data"} (base64), for the loop to forward


def _describe(exc: BaseException, http_status: int | None = None) -> str:
    """A short, secret-free description of what went wrong (headers never appear in these messages)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if http_status is not None and not isinstance(exc, TimeoutError):
        return f"The server answered HTTP {http_status}."
    if isinstance(exc, TimeoutError):
        return "The server did not answer in time."
    if isinstance(exc, httpx2.ConnectError):
        if "private, loopback or link-local" in str(exc):
            return "This server resolves to a private, loopback or link-local address; refused."
        return "The server could not be reached."
    if isinstance(exc, OSError):  # a stdio command that is not there or may not run
        return "The server's command could not be started."
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"The server answered HTTP {exc.response.status_code}."
    if isinstance(exc, httpx2.TimeoutException):
        return "The server did not answer in time."
    text = str(exc).strip() or type(exc).__name__
    return f"The server did not answer as an MCP server ({text[:200]})."


class _Session:
    """An initialized ClientSession over the chosen transport, for one `async with`."""

    def __init__(self, *, url: str, transport: str, headers: dict[str, str], timeout: float, guarded: bool,
                 command: list[str] | None = None, env: dict[str, str] | None = None):
        self.url, self.transport, self.headers, self.timeout = url, transport, headers, timeout
        self.guarded = guarded
        self.command, self.env = command or [], env or {}
        self.http_status: int | None = None  # the first HTTP error status seen (the SDK's errors drop it)

    async def _note_status(self, response) -> None:
        if response.status_code >= 400 and self.http_status is None:
            self.http_status = response.status_code

    def _http_client(self, headers=None, timeout=None, auth=None) -> httpx2.AsyncClient:
        from tools.network import GuardedTransport

        return httpx2.AsyncClient(headers=headers if headers is not None else self.headers,
                                  timeout=timeout or httpx2.Timeout(self.timeout), auth=auth,
                                  transport=GuardedTransport() if self.guarded else None,
                                  event_hooks={"response": [self._note_status]})

    async def __aenter__(self):
        from contextlib import AsyncExitStack

        from mcp.client.session import ClientSession
        from mcp.client.sse import sse_client
        from mcp.client.streamable_http import streamable_http_client

        self._stack = AsyncExitStack()
        await self._stack.__aenter__()
        try:
            if self.transport == "stdio":
                read, write = await self._stack.enter_async_context(self._stdio())
            elif self.transport == "sse":
                read, write = await self._stack.enter_async_context(
                    sse_client(self.url, headers=self.headers, timeout=self.timeout, sse_read_timeout=self.timeout,
                               httpx_client_factory=self._http_client))
            else:
                http = await self._stack.enter_async_context(self._http_client())
                read, write = await self._stack.enter_async_context(streamable_http_client(self.url, http_client=http))
            session = await self._stack.enter_async_context(
                ClientSession(read, write, read_timeout_seconds=self.timeout))
            await session.initialize()
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return session

    def _stdio(self):
        """The SDK's stdio transport: the command runs in its own process group with only the SDK's safe default
        environment plus the server's own `env` (none of Parley's settings or secrets), its stderr discarded;
        leaving the session (or the deadline) stops it."""
        import subprocess

        from mcp.client.stdio import StdioServerParameters, stdio_client

        if not self.command:
            raise McpError("This stdio server has no command.")
        parameters = StdioServerParameters(command=self.command[0], args=self.command[1:], env=self.env,
                                           encoding_error_handler="replace")
        return stdio_client(parameters, errlog=subprocess.DEVNULL)

    async def __aexit__(self, *exc_info):
        return await self._stack.__aexit__(*exc_info)


def _tool_dict(tool) -> dict:
    return {"name": tool.name, "description": tool.description or "", "input_schema": tool.input_schema or {}}


async def list_tools(*, url: str = "", transport: str = "streamable_http", headers: dict[str, str] | None = None,
                     deadline: float = 10, guarded: bool = False, command: list[str] | None = None,
                     env: dict[str, str] | None = None) -> list[dict]:
    """The server's tools as `{"name","description","input_schema"}`; raises McpError. `guarded`: refuse
    loopback, private and link-local addresses on every connection (a non-admin's server). `command` and `env`:
    a stdio server's argv and extra environment."""
    tools: list[dict] = []
    connection = _Session(url=url, transport=transport, headers=headers or {}, timeout=deadline, guarded=guarded,
                          command=command, env=env)
    try:
        with anyio.fail_after(deadline):
            async with connection as session:
                from mcp.types import PaginatedRequestParams

                cursor = None
                for _ in range(MAX_LIST_PAGES):
                    params = PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    tools.extend(_tool_dict(tool) for tool in page.tools)
                    cursor = page.next_cursor
                    if not cursor or len(tools) >= MAX_TOOLS:
                        break
    except McpError:
        raise
    except Exception as exc:  # an ExceptionGroup from the transport's task group included
        raise McpError(_describe(exc, connection.http_status)) from None
    if len(tools) > MAX_TOOLS:
        raise McpError(f"The server lists more than {MAX_TOOLS} tools.")
    return tools


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"\n[truncated: the tool returned {len(text):,} characters, {max_chars:,} kept]"


def _result(result, max_chars: int) -> ToolResult:
    parts, images = [], []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image":
            images.append({"mime_type": block.mime_type, "data": block.data})
            parts.append(f"[image: {block.mime_type}]")
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    is_error = bool(getattr(result, "is_error", False))
    if len(json.dumps([i["data"] for i in images])) > max_chars * 10:  # an image too large to pass on
        images = []
    return ToolResult(content=_cap("\n".join(parts), max_chars), is_error=is_error, images=images)


async def call_tool(*, name: str, url: str = "", arguments: dict | None = None, transport: str = "streamable_http",
                    headers: dict[str, str] | None = None, deadline: float = 60,
                    max_chars: int = 20_000, guarded: bool = False, command: list[str] | None = None,
                    env: dict[str, str] | None = None) -> ToolResult:
    """Call one tool; every failure (down, slow, not MCP, a tool error) is an error result, never an exception.
    Cancelling the caller (a stopped reply) still cancels it: the transport's own errors on the way out are not a
    result."""
    connection = _Session(url=url, transport=transport, headers=headers or {}, timeout=deadline, guarded=guarded,
                          command=command, env=env)
    try:
        with anyio.fail_after(deadline):
            async with connection as session:
                result = await session.call_tool(name, arguments or {}, read_timeout_seconds=deadline)
    except Exception as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from exc
        message = _describe(exc, connection.http_status)
        if "MCPError" in type(exc).__name__ or "McpError" in type(exc).__name__:
            message = f"The tool call failed: {str(exc)[:500]}"
        return ToolResult(content=message, is_error=True)
    return _result(result, max_chars)
