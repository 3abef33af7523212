"""Admin for shared provider keys and custom endpoints: keys go in through a password field, only hints come out."""
from django import forms
from django.contrib import admin

from providers.models import (
    CatalogFetch,
    CatalogModel,
    CustomEndpoint,
    PrivateCatalogFetch,
    PrivateCatalogModel,
    ProviderKey,
)
from providers.selectors import BUILTIN_PROVIDERS
from providers.services import custom_endpoint_url_check


class _SecretForm(forms.ModelForm):
    """Adds a write-only `api_key` field; the stored value is never rendered back."""

    secret_required = True
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["api_key"].help_text = f"Stored: {self.instance.hint}. Leave empty to keep it."
        elif self.secret_required:
            self.fields["api_key"].required = True

    def save(self, commit=True):
        obj = super().save(commit=False)
        secret = self.cleaned_data.get("api_key")
        if secret:
            obj.set_secret(secret)
        elif not obj.pk:
            obj.encrypted_secret, obj.hint = "", ""
        if commit:
            obj.save()
        return obj


class ProviderKeyForm(_SecretForm):
    provider = forms.CharField(
        max_length=64, help_text=f"One of {', '.join(BUILTIN_PROVIDERS)}, or a custom endpoint's slug."
    )

    class Meta:
        model = ProviderKey
        fields = ["provider", "label", "owner"]
        help_texts = {"owner": "Empty: shared with every user (used when a user has no key of their own)."}


@admin.register(ProviderKey)
class ProviderKeyAdmin(admin.ModelAdmin):
    form = ProviderKeyForm
    list_display = ["provider", "label", "hint", "whose", "valid", "last_validated_at", "created_at"]
    list_filter = ["provider", "valid", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["provider", "label", "owner__username"]
    readonly_fields = ["hint", "valid", "last_validated_at", "validation_detail", "created_at"]
    fields = ["provider", "label", "api_key", "owner", *readonly_fields]
    autocomplete_fields = ["owner"]

    @admin.display(description="owner")
    def whose(self, obj):
        return obj.owner or "shared"


class CustomEndpointForm(_SecretForm):
    secret_required = False
    base_url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = CustomEndpoint
        fields = ["slug", "name", "base_url", "owner"]
        help_texts = {"owner": "Empty: shared with every user."}

    def clean_base_url(self):
        base_url = self.cleaned_data["base_url"]
        custom_endpoint_url_check(base_url)
        return base_url


@admin.register(CustomEndpoint)
class CustomEndpointAdmin(admin.ModelAdmin):
    form = CustomEndpointForm
    list_display = ["slug", "name", "base_url", "hint", "owner", "created_at"]
    search_fields = ["slug", "name", "base_url"]
    readonly_fields = ["hint", "created_at"]
    fields = ["slug", "name", "base_url", "api_key", "owner", *readonly_fields]
    autocomplete_fields = ["owner"]


@admin.register(CatalogModel)
class CatalogModelAdmin(admin.ModelAdmin):
    """The fetched model catalog: read-only, refreshed by providers.tasks.refresh_catalog."""

    list_display = ["id", "provider", "name", "context_length", "pricing_prompt", "pricing_completion", "fetched_at"]
    list_filter = ["provider"]
    search_fields = ["id", "name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CatalogFetch)
class CatalogFetchAdmin(admin.ModelAdmin):
    list_display = ["provider", "ok", "fetched_at", "attempted_at", "error"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PrivateCatalogModel)
class PrivateCatalogModelAdmin(CatalogModelAdmin):
    """Models listed by users' own keys and endpoints, each seen by its owner only."""

    list_display = ["model", "owner", "provider", "name", "context_length", "fetched_at"]
    search_fields = ["model", "name", "owner__username"]


@admin.register(PrivateCatalogFetch)
class PrivateCatalogFetchAdmin(CatalogFetchAdmin):
    list_display = ["provider", "owner", "ok", "fetched_at", "attempted_at", "error"]
