"""MCP tool servers (SPEC §7): a user's own, or shared by an admin (owner empty); headers stored encrypted."""
from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

NAME_PATTERN = r"^[a-z0-9_-]{1,32}$"


class Transport(models.TextChoices):
    STREAMABLE_HTTP = "streamable_http", "Streamable HTTP"
    SSE = "sse", "SSE"


class ServerStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    CONNECTED = "connected", "Connected"
    ERROR = "error", "Error"


class McpServer(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="mcp_servers", help_text="Empty: shared with every user (admins only).")
    name = models.CharField(max_length=32, validators=[RegexValidator(NAME_PATTERN)],
                            help_text="[a-z0-9_-]{1,32}; tools are offered as <name>/<tool>.")
    url = models.URLField(max_length=500)
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    enabled = models.BooleanField(default=True)
    # JSON {name: value}, Fernet-encrypted like provider keys; write-only everywhere.
    encrypted_headers = models.TextField(blank=True, default="", editable=False)
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
        return f"{self.name} ({self.url})"

    @property
    def shared(self) -> bool:
        return self.owner_id is None

    def set_headers(self, headers: dict[str, str]) -> None:
        import json

        from core.encryption import encrypt_secret

        self.encrypted_headers = encrypt_secret(json.dumps(headers)) if headers else ""

    def get_headers(self) -> dict[str, str]:
        """The plaintext headers; raises core.encryption.SecretUndecryptable when the key that wrote them is gone."""
        import json

        from core.encryption import decrypt_secret

        return json.loads(decrypt_secret(self.encrypted_headers)) if self.encrypted_headers else {}
