"""A tiny MCP server on stdin/stdout, built with the official SDK's server side: run it as a script.

Tools: `add`, `slow` (sleeps), `fail` (raises), `env` (reads one environment variable, to show what the command is
given) — the stdio counterpart of tests/fixtures/mcp_server.py.
"""
import os
import sys


def build():
    import anyio
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("stdio-fixture")

    @server.tool(description="Add two numbers.")
    def add(a: float, b: float) -> str:
        return str(a + b)

    @server.tool(description="Answer after `seconds` seconds.")
    async def slow(seconds: float = 30) -> str:
        await anyio.sleep(seconds)
        return "done"

    @server.tool(description="Always fails.")
    def fail() -> str:
        raise RuntimeError("the stdio fixture tool failed on purpose")

    @server.tool(description="The value of one environment variable, or (unset).")
    def env(name: str) -> str:
        return os.environ.get(name, "(unset)")

    return server


if __name__ == "__main__":
    if "--not-mcp" in sys.argv:  # a command that prints something else and exits
        print("hello, I am not an MCP server")
        sys.exit(0)
    build().run("stdio")
