"""Stored provider keys (encrypted), custom OpenAI-compatible endpoints, and the model catalog."""
from django.conf import settings
from django.db import models

from core.encryption import SecretUndecryptable, decrypt_secret, encrypt_secret, secret_hint


class EncryptedSecretMixin(models.Model):
    """A Fernet-encrypted secret with a displayable hint; the plaintext never touches the database."""

    encrypted_secret = models.TextField(editable=False)
    hint = models.CharField(max_length=16, editable=False)

    class Meta:
        abstract = True

    def set_secret(self, plaintext: str) -> None:
        self.encrypted_secret = encrypt_secret(plaintext)
        self.hint = secret_hint(plaintext)

    def get_secret(self) -> str:
        """The plaintext; raises SecretUndecryptable when the key that wrote it is gone."""
        return decrypt_secret(self.encrypted_secret)

    @property
    def decryptable(self) -> bool:
        try:
            self.get_secret()
        except SecretUndecryptable:
            return False
        return True


class ProviderKey(EncryptedSecretMixin):
    """A provider API key: a user's own (owner set) or shared by an admin with everyone (owner empty)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="provider_keys"
    )
    provider = models.CharField(max_length=64)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_validated_at = models.DateTimeField(null=True, blank=True)
    valid = models.BooleanField(null=True, blank=True)
    validation_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "provider"])]

    def __str__(self) -> str:
        whose = "shared" if self.owner_id is None else f"user {self.owner_id}"
        return f"{self.provider} key {self.hint} ({whose})"


class CustomEndpoint(EncryptedSecretMixin):
    """An OpenAI-compatible server (vLLM, llama.cpp, a gateway) under its own provider slug."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="custom_endpoints"
    )
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    base_url = models.URLField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(fields=["owner", "slug"], name="unique_endpoint_slug_per_owner")]

    def __str__(self) -> str:
        return f"{self.slug} ({self.base_url})"


class CatalogEntryFields(models.Model):
    """What the catalog knows of one model."""

    provider = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=300)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    # USD per token, as OpenRouter reports it.
    pricing_prompt = models.DecimalField(max_digits=18, decimal_places=12, null=True, blank=True)
    pricing_completion = models.DecimalField(max_digits=18, decimal_places=12, null=True, blank=True)
    capabilities = models.JSONField(default=list, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        abstract = True


class CatalogModel(CatalogEntryFields):
    """One model of the shared catalog, as `provider/model-id`: fetched with a shared or environment key only."""

    id = models.CharField(primary_key=True, max_length=300)

    class Meta:
        ordering = ["provider", "id"]

    def __str__(self) -> str:
        return self.id

    @property
    def model_name(self) -> str:
        return self.id


class PrivateCatalogModel(CatalogEntryFields):
    """A model listed by a user's own key or own endpoint (fine-tunes, private deployments): that user's alone."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.CharField(max_length=300, help_text="provider/model-id")

    class Meta:
        ordering = ["provider", "model"]
        constraints = [models.UniqueConstraint(fields=["owner", "model"], name="unique_private_catalog_model")]

    def __str__(self) -> str:
        return f"{self.model} (user {self.owner_id})"

    @property
    def model_name(self) -> str:
        return self.model


class CatalogFetchFields(models.Model):
    fetched_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True


class CatalogFetch(CatalogFetchFields):
    """The last shared catalog refresh of a provider, successful or not."""

    provider = models.CharField(max_length=64, primary_key=True)

    def __str__(self) -> str:
        return f"{self.provider} catalog"


class PrivateCatalogFetch(CatalogFetchFields):
    """The last refresh of a provider's list with one user's own key or endpoint."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "provider"], name="unique_private_catalog_fetch")]

    def __str__(self) -> str:
        return f"{self.provider} catalog of user {self.owner_id}"
