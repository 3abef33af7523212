"""The one entry point to models: resolve "provider/model-id" to a Route, stream or complete a chat, price usage."""
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError

from core.db import revalidated
from core.db_workers import db_call
from core.encryption import SecretUndecryptable
from core.local_cache import LocalCache
from providers import errors
from providers.base import ChatRequest, Route
from providers.events import EventKind, StreamEvent
from providers.pricing import price_usage
from providers.registry import PROVIDERS, get_adapter

logger = logging.getLogger("parley.providers")


def split_model(model: str) -> tuple[str, str]:
    provider, sep, model_id = (model or "").strip().partition("/")
    if not sep or not provider or not model_id or model_id.endswith("/"):
        raise errors.InvalidModelName(
            f"{model!r} is not a model name; use provider/model-id, e.g. openai/gpt-4o-mini."
        )
    return provider, model_id


def env_config(slug: str) -> dict:
    return (getattr(settings, "PARLEY_PROVIDER_ENV", {}) or {}).get(slug) or {}


def _stored_key(model, *, user_id: int | None, **lookup):
    """The user's newest object, else the newest shared one: (object, source) or (None, "")."""
    if user_id is not None:
        own = model.objects.filter(owner_id=user_id, **lookup).order_by("-created_at", "-pk").first()
        if own is not None:
            return own, "user"
    shared = model.objects.filter(owner__isnull=True, **lookup).order_by("-created_at", "-pk").first()
    if shared is not None:
        return shared, "shared"
    return None, ""


def _secret(obj, provider: str) -> str:
    try:
        return obj.get_secret()
    except SecretUndecryptable:
        raise errors.KeyUndecryptable(
            f"The stored {provider} key can no longer be decrypted (the encryption key changed); "
            "please re-enter the key.", provider=provider,
        )


def resolve_route(*, model: str, user_id: int | None) -> Route:
    """Where a chat with `model` goes for this user, with which key (user's, then shared, then env)."""
    from providers.models import ProviderKey

    model = (model or "").strip()
    provider, model_id = split_model(model)
    spec = PROVIDERS.get(provider)
    if spec is None:
        return _custom_route(provider=provider, model=model, model_id=model_id, user_id=user_id)
    config = env_config(provider)
    base_url = (config.get("base_url") or spec.default_base_url).rstrip("/")
    key, source = _stored_key(ProviderKey, user_id=user_id, provider=provider)
    if key is not None:
        api_key = _secret(key, provider)
    else:
        api_key, source = config.get("api_key") or "", "env" if config.get("api_key") else ""
    if not api_key and spec.requires_key:
        raise errors.ProviderNotConfigured(
            f"{spec.name} is not configured: add an API key in Settings or set {spec.key_env}.", provider=provider
        )
    return Route(provider=provider, model=model, model_id=model_id, base_url=base_url, api_key=api_key,
                 key_source=source, protocol=spec.protocol, user_id=user_id)


# (model, user id) → Route, for the streaming start path (no database round trips per reply). Cleared in every
# process when a provider key, a custom endpoint or a user changes (providers.apps), and on a settings change.
_routes = LocalCache("provider_routes", ttl=300.0)


def cached_route(*, model: str, user_id: int | None) -> Route | None:
    """The remembered route, if any (no database access: safe on an event loop)."""
    return _routes.get(((model or "").strip(), user_id))


def resolve_route_cached(*, model: str, user_id: int | None) -> Route:
    """`resolve_route`, remembered until the keys or endpoints behind it change; errors are never cached."""
    cache_key = ((model or "").strip(), user_id)
    route = _routes.get(cache_key)
    if route is None:
        route = resolve_route(model=model, user_id=user_id)
        _routes.set(cache_key, route)
    return route


def _custom_route(*, provider: str, model: str, model_id: str, user_id: int | None) -> Route:
    """A custom endpoint (the user's own first, then a shared one) and the key that may go to it.

    A user's own endpoint gets only that user's secrets (its own key, or their stored key for the slug):
    never a shared or environment key, which would hand an admin's key to a URL a user chose.
    """
    from providers.models import CustomEndpoint, ProviderKey

    endpoint, source = _stored_key(CustomEndpoint, user_id=user_id, slug=provider)
    if endpoint is None:
        raise errors.UnknownProvider(f"No provider called {provider!r} is known.", provider=provider)
    user_endpoint = source == "user"
    key = None
    if user_id is not None:
        key = ProviderKey.objects.filter(owner_id=user_id, provider=provider).order_by("-created_at", "-pk").first()
    if key is None and not user_endpoint:
        key = ProviderKey.objects.filter(owner__isnull=True, provider=provider).order_by("-created_at", "-pk").first()
    if key is not None:
        api_key, key_source = _secret(key, provider), "user" if key.owner_id else "shared"
    elif endpoint.encrypted_secret:
        api_key, key_source = _secret(endpoint, provider), source
    else:
        api_key, key_source = "", ""
    return Route(provider=provider, model=model, model_id=model_id, base_url=endpoint.base_url.rstrip("/"),
                 api_key=api_key, key_source=key_source, protocol="openai_chat",
                 user_endpoint=user_endpoint and not _admin_owned(endpoint), user_id=user_id)


def _admin_owned(endpoint) -> bool:
    """An admin's own endpoint may reach the deployment's internal addresses (SPEC §7); checked per call, so an
    admin who loses the role loses that too."""
    return endpoint.owner is not None and endpoint.owner.is_staff


def route_for_key(key) -> Route:
    """Where a stored key belongs, to ask its provider about it (raises SecretUndecryptable)."""
    from providers.models import CustomEndpoint

    spec = PROVIDERS.get(key.provider)
    api_key = key.get_secret()
    if spec is not None:
        base_url = (env_config(key.provider).get("base_url") or spec.default_base_url).rstrip("/")
        return Route(provider=key.provider, model=f"{key.provider}/", model_id="", base_url=base_url,
                     api_key=api_key, key_source="user" if key.owner_id else "shared", protocol=spec.protocol)
    endpoint, source = _stored_key(CustomEndpoint, user_id=key.owner_id, slug=key.provider)
    if endpoint is None or (source == "user" and key.owner_id is None):
        raise errors.UnknownProvider(f"No provider called {key.provider!r} is known.", provider=key.provider)
    return Route(provider=key.provider, model=f"{key.provider}/", model_id="", base_url=endpoint.base_url.rstrip("/"),
                 api_key=api_key, key_source="user" if key.owner_id else "shared", protocol="openai_chat",
                 user_endpoint=source == "user" and not _admin_owned(endpoint))


def configured_providers(user_id: int | None) -> dict[str, str | None]:
    """Every provider this user can reach → where its key comes from ("user", "shared", "env", "" for keyless)."""
    from providers.models import CustomEndpoint, ProviderKey

    keys = ProviderKey.objects.filter(provider__in=list(PROVIDERS))
    owned = set(keys.filter(owner_id=user_id).values_list("provider", flat=True)) if user_id is not None else set()
    shared = set(keys.filter(owner__isnull=True).values_list("provider", flat=True))
    result: dict[str, str | None] = {}
    for slug, spec in PROVIDERS.items():
        if slug in owned:
            result[slug] = "user"
        elif slug in shared:
            result[slug] = "shared"
        elif env_config(slug).get("api_key"):
            result[slug] = "env"
        elif not spec.requires_key and env_config(slug).get("base_url"):
            result[slug] = ""  # keyless (Ollama) and pointed somewhere on purpose
        else:
            result[slug] = None
    endpoints = CustomEndpoint.objects.filter(owner__isnull=True)
    if user_id is not None:
        endpoints = endpoints | CustomEndpoint.objects.filter(owner_id=user_id)
    for endpoint in endpoints.order_by("owner_id"):
        result.setdefault(endpoint.slug, "user" if endpoint.owner_id else "shared")
    return result


async def stream_chat(route: Route, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """Stream a reply as StreamEvents ending with FINISH; raise a ProviderError on failure.

    Closing this generator (or cancelling its task) closes the upstream response at once.
    """
    adapter = get_adapter(route.protocol)
    async with contextlib.aclosing(adapter.stream(route, request)) as events:
        async for event in events:
            if event.kind is EventKind.USAGE:
                # On a database worker that keeps its connection (not a new thread and connection per reply),
                # checked first: it may predate a database restart.
                try:
                    event.data["cost"], event.data["cost_source"] = await db_call(
                        revalidated(price_usage), route.model, event.data, user_id=route.user_id)
                except DatabaseError:
                    # The reply itself is whole: a database outage leaves its cost unknown, it does not fail it.
                    logger.warning("Could not price the usage of %s: the database is unavailable", route.model)
                    event.data["cost"], event.data["cost_source"] = None, ""
            yield event


@dataclass(slots=True)
class CompletedChat:
    text: str
    reasoning: str = ""
    usage: dict = field(default_factory=dict)
    cost: Decimal | None = None
    finish_reason: str = ""
    metadata: dict = field(default_factory=dict)


async def complete_chat(route: Route, request: ChatRequest) -> CompletedChat:
    """The whole reply at once (merges and titles), built on stream_chat."""
    text, reasoning = [], []
    result = CompletedChat(text="")
    tool_calls, citations = [], None
    async for event in stream_chat(route, request):
        if event.kind is EventKind.TEXT:
            text.append(event.text)
        elif event.kind is EventKind.REASONING:
            reasoning.append(event.text)
        elif event.kind is EventKind.USAGE:
            result.usage = dict(event.data)
            result.cost = event.data.get("cost")
        elif event.kind is EventKind.TOOL_CALL:
            tool_calls.append(event.data)
        elif event.kind is EventKind.CITATIONS:
            citations = event.data.get("citations")
        elif event.kind is EventKind.FINISH:
            result.finish_reason = event.data.get("finish_reason", "")
            result.metadata = dict(event.metadata or {})
    result.text, result.reasoning = "".join(text), "".join(reasoning)
    if tool_calls:
        result.metadata.setdefault("tool_calls", tool_calls)
    if citations:
        result.metadata["citations"] = citations
    return result


def usage_cost(model: str, usage: dict, *, user_id: int | None = None) -> Decimal | None:
    """What a reply cost: the provider's own figure, else the model's prices × tokens (providers.pricing), else None."""
    return price_usage(model, usage, user_id=user_id)[0]
