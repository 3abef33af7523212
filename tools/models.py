"""MCP tool servers (SPEC §7): a user's own, or shared by an admin (owner empty); headers (and a stdio server's
environment) stored encrypted."""
from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

NAME_PATTERN = r"^[a-z0-9_-]{1,32}$"


class Transport(models.TextChoices):
    STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
    SSE = "sse", "SSE"
    # A local command speaking MCP on stdin/stdout: only an admin adds one, only with PARLEY_MCP_ALLOW_STDIO=1.
    STDIO = "stdio", "stdio (local command)"


class ServerStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    CONNECTED = "connected", "Connected"
    ERROR = "error", "Error"


class McpServer(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="mcp_servers", help_text="Empty: shared with every user (admins only).")
    name = models.CharField(max_length=32, validators=[RegexValidator(NAME_PATTERN)],
                            help_text="[a-z0-9_-]{1,32}; tools are offered as <name>/<tool>.")
    url = models.URLField(max_length=500, blank=True, help_text="Empty for a stdio server.")
    # stdio only: the command line (program and arguments, split with shlex) the SDK starts for each session.
    command = models.CharField(max_length=1000, blank=True, default="",
                               help_text="stdio only: the command line that starts the server.")
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    enabled = models.BooleanField(default=True)
    # JSON {name: value}, Fernet-encrypted like provider keys; write-only everywhere.
    encrypted_headers = models.TextField(blank=True, default="", editable=False)
    # stdio only: extra environment variables for the command, JSON {name: value}, encrypted like the headers.
    encrypted_env = models.TextField(blank=True, default="", editable=False)
    status = models.CharField(max_length=16, choices=ServerStatus.choices, default=ServerStatus.UNKNOWN)
    error = models.CharField(max_length=500, blank=True, default="")
    tools = models.JSONField(default=list, blank=True, editable=False)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "MCP server"
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="unique_mcp_server_name_per_owner"),
            models.UniqueConstraint(fields=["name"], condition=Q(owner__isnull=True),
                                    name="unique_shared_mcp_server_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'stdio' if self.transport == Transport.STDIO else self.url})"

    @property
    def shared(self) -> bool:
        return self.owner_id is None

    def set_headers(self, headers: dict[str, str]) -> None:
        self.encrypted_headers = _encrypt_mapping(headers)

    def get_headers(self) -> dict[str, str]:
        """The plaintext headers; raises core.encryption.SecretUndecryptable when the key that wrote them is gone."""
        return _decrypt_mapping(self.encrypted_headers)

    def set_env(self, env: dict[str, str]) -> None:
        self.encrypted_env = _encrypt_mapping(env)

    def get_env(self) -> dict[str, str]:
        """A stdio server's extra environment; raises SecretUndecryptable like get_headers."""
        return _decrypt_mapping(self.encrypted_env)


def _encrypt_mapping(values: dict[str, str]) -> str:
    import json

    from core.encryption import encrypt_secret

    return encrypt_secret(json.dumps(values)) if values else ""


def _decrypt_mapping(stored: str) -> dict[str, str]:
    import json

    from core.encryption import decrypt_secret

    return json.loads(decrypt_secret(stored)) if stored else {}
