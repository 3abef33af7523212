"""Reads for the gateway: the catalog models a caller can use."""
from providers import selectors, services


def usable_models(*, user_id: int) -> list:
    """Catalog entries of every provider the user has a key for (lists fetched first when stale)."""
    usable, _, _ = services.catalog_usable(user_id=user_id)
    return list(selectors.catalog_list(providers=usable))
