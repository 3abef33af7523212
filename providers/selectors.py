"""Reads over stored provider keys and custom endpoints; which providers a user can reach."""
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from providers.models import CustomEndpoint, ProviderKey
from providers.registry import PROVIDERS

# The built-in provider slugs, in the order the UI lists them (the registry's order).
BUILTIN_PROVIDERS: tuple[str, ...] = tuple(PROVIDERS)


def custom_endpoint_list(*, user_id: int | None) -> QuerySet[CustomEndpoint]:
    """Endpoints the user may use: their own and the shared ones (owner empty)."""
    owners = Q(owner__isnull=True)
    if user_id is not None:
        owners |= Q(owner_id=user_id)
    return CustomEndpoint.objects.filter(owners)


def known_provider_slugs(*, user_id: int | None) -> set[str]:
    return set(BUILTIN_PROVIDERS) | set(custom_endpoint_list(user_id=user_id).values_list("slug", flat=True))


def provider_key_list(*, user) -> QuerySet[ProviderKey]:
    """The caller's own stored keys, newest first (shared keys are managed in the admin)."""
    return ProviderKey.objects.filter(owner=user).order_by("-created_at", "-id")


def provider_key_get(*, user, key_id) -> ProviderKey | None:
    try:
        key_id = int(key_id)
    except (TypeError, ValueError):
        return None
    return provider_key_list(user=user).filter(pk=key_id).first()


def configured_providers(*, user_id: int | None) -> dict[str, bool]:
    """{slug: configured} for every provider the user can reach (the gateway says where each key comes from)."""
    from providers.gateway import configured_providers as key_sources

    return {slug: source is not None for slug, source in key_sources(user_id).items()}


# --- the model catalog and providers overview (providers layer) ----------------------------------

def private_catalog_providers(*, user_id: int | None) -> set[str]:
    """The providers whose catalog this user sees from their own key or own endpoint, not the shared one: the
    same choice route resolution makes (the user's own key first; a user's own endpoint before a shared one)."""
    if user_id is None:
        return set()
    own_keys = set(ProviderKey.objects.filter(owner_id=user_id).values_list("provider", flat=True))
    own_endpoints = set(CustomEndpoint.objects.filter(owner_id=user_id).values_list("slug", flat=True))
    return own_keys | own_endpoints


def catalog_list(*, providers=None, q: str = "", capability: str = "", user_id: int | None = None) -> list:
    """Catalog entries, filtered: the shared ones, and the user's own for the providers they reach with their own
    key or endpoint (never another user's); `providers` limits to those slugs. Sorted by provider and model."""
    from providers.models import CatalogModel, PrivateCatalogModel

    private = private_catalog_providers(user_id=user_id)
    shared = CatalogModel.objects.exclude(provider__in=list(private))
    own = PrivateCatalogModel.objects.filter(owner_id=user_id, provider__in=list(private))
    if providers is not None:
        shared, own = shared.filter(provider__in=list(providers)), own.filter(provider__in=list(providers))
    if q:
        shared = shared.filter(Q(id__icontains=q) | Q(name__icontains=q))
        own = own.filter(Q(model__icontains=q) | Q(name__icontains=q))
    rows = sorted([*shared, *own], key=lambda row: (row.provider, row.model_name))
    if capability:
        # JSON containment is not portable to SQLite; the catalog is small enough to filter here.
        return [row for row in rows if capability in (row.capabilities or [])]
    return rows


def catalog_entry(*, model: str, user_id: int | None):
    """One model's catalog entry as this user sees it (their own list where the catalog is theirs), or None."""
    from providers.models import CatalogModel, PrivateCatalogModel

    provider = model.split("/", 1)[0]
    if provider in private_catalog_providers(user_id=user_id):
        return PrivateCatalogModel.objects.filter(owner_id=user_id, model=model).first()
    return CatalogModel.objects.filter(id=model).first()


def catalog_fetches(*, providers, user_id: int | None = None) -> dict:
    """{slug: its last refresh}, the user's own for the providers whose catalog is theirs."""
    from providers.models import CatalogFetch, PrivateCatalogFetch

    private = private_catalog_providers(user_id=user_id)
    slugs = list(providers)
    fetches = {f.provider: f for f in CatalogFetch.objects.filter(provider__in=[s for s in slugs if s not in private])}
    fetches.update({f.provider: f for f in PrivateCatalogFetch.objects.filter(
        owner_id=user_id, provider__in=[s for s in slugs if s in private])})
    return fetches


def catalog_stale(*, providers, fetches: dict) -> list[str]:
    """The providers whose list was last fetched (or tried) longer than MODEL_CATALOG_TTL ago, or never."""
    oldest = timezone.now() - timedelta(seconds=settings.MODEL_CATALOG_TTL)
    stale = []
    for slug in providers:
        fetch = fetches.get(slug)
        last = fetch and (fetch.attempted_at or fetch.fetched_at)
        if not last or last < oldest:
            stale.append(slug)
    return stale


def custom_endpoint_get(*, user, endpoint_id) -> CustomEndpoint | None:
    """The caller's own endpoint (shared ones are deleted by admins in the admin site)."""
    try:
        endpoint_id = int(endpoint_id)
    except (TypeError, ValueError):
        return None
    queryset = CustomEndpoint.objects.filter(pk=endpoint_id)
    if user.is_staff:
        queryset = queryset.filter(Q(owner=user) | Q(owner__isnull=True))
    else:
        queryset = queryset.filter(owner=user)
    return queryset.first()
