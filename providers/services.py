"""Writes of stored provider keys: add (encrypted at once) and delete."""
from django.db import transaction

from providers.models import ProviderKey


@transaction.atomic
def provider_key_create(*, owner, provider: str, api_key: str, label: str = "") -> ProviderKey:
    """Store a key for `owner` (None = shared with everyone); only its ciphertext and hint are kept."""
    key = ProviderKey(owner=owner, provider=provider, label=label)
    key.set_secret(api_key)
    key.save()
    return key


def provider_key_delete(*, key: ProviderKey) -> None:
    key.delete()


# --- key validation, custom endpoints and the model catalog (providers layer) ------------------------

def provider_key_validate(*, key: ProviderKey) -> tuple[bool, str]:
    """Ask the key's provider with its cheapest call; store and return (valid, detail).

    Raises a ProviderError when the provider cannot be asked (unreachable, overloaded): that says
    nothing about the key, so nothing is stored. Http404 when the key was deleted meanwhile.
    """
    from asgiref.sync import async_to_sync
    from django.utils import timezone

    from core.encryption import SecretUndecryptable
    from core.rows import save_fields_or_404
    from providers.gateway import route_for_key
    from providers.registry import get_adapter
    from providers.transport import run_scoped

    try:
        route = route_for_key(key)
    except SecretUndecryptable:
        valid, detail = False, "This key can no longer be decrypted; please re-enter it."
    else:
        valid, detail = async_to_sync(run_scoped)(get_adapter(route.protocol).validate_key, route)
    key.valid, key.validation_detail, key.last_validated_at = valid, detail[:500], timezone.now()
    # The key may have been deleted while its provider was asked: that is a 404, not a 500.
    save_fields_or_404(key, update_fields=["valid", "validation_detail", "last_validated_at"], missing="No such key.")
    return valid, detail


def custom_endpoint_url_check(base_url: str) -> None:
    """A base URL is shown to users and written to logs: a key belongs in `api_key`, not in the URL.

    (A query or fragment would also end up in front of the paths appended to it.)
    """
    from urllib.parse import urlsplit

    from django.core.exceptions import ValidationError

    parts = urlsplit(base_url)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValidationError("A base URL carries no user, password, query or fragment; give the key as api_key.",
                              code="credentials_in_url")


@transaction.atomic
def custom_endpoint_create(*, owner, slug: str, name: str, base_url: str, api_key: str = ""):
    """A custom OpenAI-compatible endpoint; `owner` None makes it shared (admins only, checked by the caller).

    A non-admin's endpoint must not resolve to loopback, private, link-local or metadata addresses; the
    same check runs again on every connection (providers.transport.GuardedNetworkBackend). Admins may point
    their own and shared endpoints inside the deployment (SPEC §7).
    """
    from urllib.parse import urlsplit

    from django.core.exceptions import ValidationError

    from providers import errors
    from providers.models import CustomEndpoint
    from providers.registry import PROVIDERS
    from providers.transport import check_host_allowed

    if slug in PROVIDERS:
        raise ValidationError({"slug": ValidationError(f"'{slug}' is a built-in provider.", code="slug_taken")})
    if CustomEndpoint.objects.filter(owner=owner, slug=slug).exists():
        raise ValidationError({"slug": ValidationError(f"There is already an endpoint called '{slug}'.",
                                                       code="slug_taken")})
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"base_url": ValidationError("Enter an http(s) URL.", code="invalid_url")})
    try:
        custom_endpoint_url_check(base_url)
    except ValidationError as exc:
        raise ValidationError({"base_url": exc}) from None
    if owner is not None and not owner.is_staff:
        try:
            check_host_allowed(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except errors.BlockedEndpoint as exc:
            raise ValidationError({"base_url": ValidationError(exc.message, code="blocked_endpoint")})
    endpoint = CustomEndpoint(owner=owner, slug=slug, name=name, base_url=base_url.rstrip("/"))
    if api_key:
        endpoint.set_secret(api_key)
    else:
        endpoint.encrypted_secret, endpoint.hint = "", ""
    endpoint.save()
    return endpoint


def custom_endpoint_delete(*, endpoint) -> None:
    endpoint.delete()


def catalog_usable(*, user_id: int | None, provider: str = "", refresh: bool = False,
                   fetch_missing: bool = False) -> tuple[list[str], dict, bool]:
    """The providers this user can use (or just `provider`), their catalog fetches (the user's own where the
    catalog is theirs), and whether the lists came from the cache: stale lists are fetched now without a broker,
    else by a background task. `fetch_missing` fetches now, even with a broker, the lists of providers that never
    had one (a client needs a list at once)."""
    from django.conf import settings

    from providers import selectors
    from providers.gateway import configured_providers

    usable = [slug for slug, source in configured_providers(user_id).items() if source is not None]
    if provider:
        usable = [provider] if provider in usable else []
    fetches = selectors.catalog_fetches(providers=usable, user_id=user_id)
    stale = selectors.catalog_stale(providers=usable, fetches=fetches)
    cached = True
    missing = [slug for slug in stale if fetch_missing and not getattr(fetches.get(slug), "fetched_at", None)]
    if missing and not refresh and settings.CELERY_BROKER_URL:
        catalog_refresh(user_id=user_id, providers=missing)
        stale = [slug for slug in stale if slug not in missing]
        fetches, cached = selectors.catalog_fetches(providers=usable, user_id=user_id), False
    if refresh or (stale and not settings.CELERY_BROKER_URL):
        catalog_refresh(user_id=user_id, providers=stale if not refresh else usable)
        fetches, cached = selectors.catalog_fetches(providers=usable, user_id=user_id), False
    elif stale:
        from core.dispatch import dispatch_task
        from providers.tasks import refresh_catalog

        # Shared lists are refreshed for everyone; lists fetched with the user's own key, for that user alone.
        private = selectors.private_catalog_providers(user_id=user_id)
        if set(stale) - private:
            dispatch_task(refresh_catalog)
        if set(stale) & private:
            dispatch_task(refresh_catalog, providers=sorted(set(stale) & private), user_id=user_id)
    return usable, fetches, cached


def catalog_refresh(*, user_id: int | None = None, providers: list[str] | None = None) -> dict[str, str]:
    """Fetch each reachable provider's model list and store it; a failure keeps the last good list.

    Returns {slug: "ok" | error message}. Providers without a list endpoint get their static list.
    """
    from asgiref.sync import async_to_sync

    from providers import errors
    from providers.gateway import configured_providers, resolve_route
    from providers.selectors import private_catalog_providers
    from providers.transport import run_scoped

    reachable = configured_providers(user_id)
    # Lists fetched with the user's own key or endpoint are stored as theirs alone, never in the shared catalog.
    private = private_catalog_providers(user_id=user_id)
    outcome: dict[str, str] = {}
    routes = {}
    for slug, source in reachable.items():
        if source is None or (providers and slug not in providers):
            continue
        owner_id = user_id if slug in private else None
        try:
            routes[slug] = resolve_route(model=f"{slug}/catalog", user_id=user_id)
        except errors.ProviderError as exc:
            outcome[slug] = exc.message
            _catalog_failed(slug, exc.message, _static(slug), owner_id=owner_id)
    # All lists at once: a refresh takes as long as the slowest provider, not the sum.
    fetched = async_to_sync(run_scoped)(_fetch_all, routes)
    for slug, result in fetched.items():
        owner_id = user_id if slug in private else None
        if isinstance(result, errors.ProviderError):
            outcome[slug] = result.message
            _catalog_failed(slug, result.message, _static(slug), owner_id=owner_id)
        elif isinstance(result, Exception):  # a malformed list must not stop the other providers
            outcome[slug] = f"Unreadable model list ({type(result).__name__})."
            _catalog_failed(slug, outcome[slug], _static(slug), owner_id=owner_id)
        else:
            _catalog_store(slug, result, owner_id=owner_id)
            outcome[slug] = "ok"
    if user_id is None:  # the shared refresh also refreshes the price table (when PARLEY_PRICE_TABLE_URL is set)
        from providers.pricing import price_table_refresh

        price_table_refresh()
    return outcome


async def _fetch_all(routes: dict) -> dict:
    import asyncio

    from providers.registry import get_adapter

    slugs = list(routes)
    results = await asyncio.gather(*(get_adapter(routes[s].protocol).list_models(routes[s]) for s in slugs),
                                   return_exceptions=True)
    return dict(zip(slugs, results, strict=True))


def _static(slug: str) -> tuple[str, ...]:
    from providers.registry import PROVIDERS

    spec = PROVIDERS.get(slug)
    return spec.static_models if spec else ()


def _price(value):
    from decimal import Decimal, InvalidOperation

    try:
        price = Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return price if price is None or price >= 0 else None  # OpenRouter marks variable pricing with -1


def _catalog_tables(owner_id: int | None):
    """(entry model, fetch model, filter of this owner's rows, the entry's name field) of the shared or a private
    catalog."""
    from providers.models import CatalogFetch, CatalogModel, PrivateCatalogFetch, PrivateCatalogModel

    if owner_id is None:
        return CatalogModel, CatalogFetch, {}, "id"
    return PrivateCatalogModel, PrivateCatalogFetch, {"owner_id": owner_id}, "model"


@transaction.atomic
def _catalog_store(slug: str, entries: list[dict], *, owner_id: int | None = None) -> None:
    from django.utils import timezone

    entry_model, fetch_model, owner, name_field = _catalog_tables(owner_id)
    now = timezone.now()
    # Concurrent refreshes of one provider take turns on its fetch row (PostgreSQL; SQLite
    # serialises writers anyway), so the delete-and-insert below never interleaves.
    fetch_model.objects.get_or_create(provider=slug, **owner)
    fetch_model.objects.select_for_update().get(provider=slug, **owner)
    entry_model.objects.filter(provider=slug, **owner).delete()
    seen = set()
    rows = []
    for entry in entries:
        if entry["id"] in seen:
            continue
        seen.add(entry["id"])
        pricing = entry.get("pricing") or {}
        rows.append(entry_model(
            **{name_field: entry["id"][:300]}, **owner, provider=slug, name=(entry.get("name") or entry["id"])[:300],
            context_length=entry.get("context_length") or None, pricing_prompt=_price(pricing.get("prompt")),
            pricing_completion=_price(pricing.get("completion")), capabilities=entry.get("capabilities") or [],
            fetched_at=now,
        ))
    entry_model.objects.bulk_create(rows)
    fetch_model.objects.update_or_create(
        provider=slug, **owner, defaults={"fetched_at": now, "attempted_at": now, "ok": True, "error": ""}
    )


@transaction.atomic
def _catalog_failed(slug: str, message: str, static_models, *, owner_id: int | None = None) -> None:
    from django.utils import timezone

    entry_model, fetch_model, owner, name_field = _catalog_tables(owner_id)
    now = timezone.now()
    fetch, _ = fetch_model.objects.get_or_create(provider=slug, **owner)
    fetch.attempted_at, fetch.ok, fetch.error = now, False, message[:500]
    fetch.save()
    if static_models and not entry_model.objects.filter(provider=slug, **owner).exists():
        # Nothing good to keep yet: offer the maintained static list rather than nothing.
        entry_model.objects.bulk_create([
            entry_model(**{name_field: f"{slug}/{model_id}"}, **owner, provider=slug, name=model_id,
                        capabilities=["text"], fetched_at=now)
            for model_id in static_models
        ])
