"""Reads for the gateway: the catalog models a caller can use."""
from providers import selectors, services


def usable_models(*, user_id: int) -> list:
    """Catalog entries of every provider the user has a key for (a provider never listed is fetched first)."""
    usable, _, _ = services.catalog_usable(user_id=user_id, fetch_missing=True)
    return list(selectors.catalog_list(providers=usable, user_id=user_id))
