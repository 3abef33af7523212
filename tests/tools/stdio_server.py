"""A tiny MCP server on stdin/stdout: the calculator fixture of tests/fixtures/mcp_server.py (add, slow, fail,
image, big), plus `env` (reads one environment variable, to show what the command is given). Run it as a script.
"""
import os
import sys
from pathlib import Path


def build():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the checkout is not on the path
    from tests.fixtures.mcp_server import calculator_server

    server = calculator_server()

    @server.tool(description="The value of one environment variable, or (unset).")
    def env(name: str) -> str:
        return os.environ.get(name, "(unset)")

    return server


if __name__ == "__main__":
    if "--not-mcp" in sys.argv:  # a command that prints something else and exits
        print("hello, I am not an MCP server")
        sys.exit(0)
    build().run("stdio")
