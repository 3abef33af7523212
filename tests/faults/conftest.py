"""Fault tests reuse the merge tests' data (two conversations with history) and API token."""
from tests.merging.conftest import auth, token, two_conversations  # noqa: F401
