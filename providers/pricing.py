"""What a model call costs: the provider's figure, else the caller's catalog prices, else the pinned price table."""
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

logger = logging.getLogger("parley.pricing")

PROVIDER, CATALOG, ESTIMATED = "provider", "catalog", "estimated"
_MILLION = Decimal(1_000_000)
# genai-prices names some providers differently from Parley's slugs.
_TABLE_PROVIDER = {"gemini": "google", "xai": "x-ai"}
_refresh_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per token; `cached_prompt` and `reasoning` fall back to the prompt and completion price."""

    prompt: Decimal
    completion: Decimal
    cached_prompt: Decimal | None = None
    reasoning: Decimal | None = None
    max_completion_tokens: int | None = None

    def cost(self, usage: dict) -> Decimal:
        prompt = int(usage.get("prompt_tokens") or 0)
        cached = min(int(usage.get("cached_tokens") or 0), prompt)
        completion = int(usage.get("completion_tokens") or 0)  # reasoning included, as every adapter reports it
        reasoning = min(int(usage.get("reasoning_tokens") or 0), completion)
        cached_price = self.cached_prompt if self.cached_prompt is not None else self.prompt
        reasoning_price = self.reasoning if self.reasoning is not None else self.completion
        return (Decimal(prompt - cached) * self.prompt + Decimal(cached) * cached_price
                + Decimal(completion - reasoning) * self.completion + Decimal(reasoning) * reasoning_price)


def model_prices(model: str, *, user_id: int | None = None) -> Prices | None:
    """The model's prices: its catalog entry as this user sees it (cache prices from the table where the catalog
    has none), else the price table alone; None when neither knows the model."""
    from providers.selectors import catalog_entry

    table = table_prices(model)
    entry = catalog_entry(model=model, user_id=user_id)
    if entry is not None and (entry.pricing_prompt is not None or entry.pricing_completion is not None):
        return Prices(prompt=entry.pricing_prompt or Decimal(0), completion=entry.pricing_completion or Decimal(0),
                      cached_prompt=table.cached_prompt if table else None,
                      max_completion_tokens=table.max_completion_tokens if table else None)
    return table


def price_usage(model: str, usage: dict, *, user_id: int | None = None) -> tuple[Decimal | None, str]:
    """(cost, cost_source) of one call's usage: `provider` when it reported a cost, `catalog` from prices, else
    (None, "")."""
    reported = usage.get("cost")
    if reported is not None:
        return Decimal(str(reported)), PROVIDER
    prices = model_prices(model, user_id=user_id)
    if prices is None:
        return None, ""
    return prices.cost(usage), CATALOG


def estimate_tokens(text: str) -> int:
    """About four characters per token for English prose: what an estimate counts when no usage came."""
    return -(-len(text or "") // 4)


# --- the maintained price table (genai-prices, pinned) --------------------------------------------------------------


def table_prices(model: str) -> Prices | None:
    """The pinned (or last refreshed) table's prices for "provider/model-id"; None if it does not know them.
    Remembered per table, model and hour (a model the table does not know costs it milliseconds to look for, on
    every reply's start and end)."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    key = (id(snapshot), model, _now().strftime("%Y-%m-%dT%H"))
    if _remembered.get("snapshot") is not snapshot:  # a new table (refreshed, or set back): forget the old one's
        _remembered.clear()
        _remembered["snapshot"] = snapshot
    if key not in _remembered:
        if len(_remembered) > 4096:
            _remembered.clear()
            _remembered["snapshot"] = snapshot
        _remembered[key] = _table_prices(snapshot, model)
    return _remembered[key]


_remembered: dict = {}


def _table_prices(snapshot, model: str) -> Prices | None:
    provider, _, model_id = model.partition("/")
    if provider == "openrouter" or "/" in model_id:
        provider, _, model_id = model_id.partition("/")  # OpenRouter names the vendor first
    provider = _TABLE_PROVIDER.get(provider, provider)
    try:
        _provider, info = snapshot.find_provider_model(model_id, None, provider or None, None)
        price = info.get_prices(_now())
    except Exception:  # LookupError for an unknown model; the table's own errors must never fail a reply
        return None
    prompt, completion = _per_token(price.input_mtok), _per_token(price.output_mtok)
    if prompt is None and completion is None:
        return None
    return Prices(prompt=prompt or Decimal(0), completion=completion or Decimal(0),
                  cached_prompt=_per_token(price.cache_read_mtok),
                  max_completion_tokens=getattr(info, "max_output_tokens", None) or None)


def _per_token(mtok) -> Decimal | None:
    """A per-million price as USD per token; tiered prices (by prompt size) count at their base tier."""
    if mtok is None:
        return None
    base = getattr(mtok, "base", mtok)
    try:
        return Decimal(str(base)) / _MILLION
    except (ArithmeticError, ValueError, TypeError):
        return None


def _now():
    from datetime import UTC, datetime

    return datetime.now(tz=UTC)


def price_table_refresh() -> str:
    """Fetch the price table from PARLEY_PRICE_TABLE_URL (run with the catalog refresh); "" when not configured,
    "ok", or why it failed (the pinned or last good table stays in use)."""
    url = getattr(settings, "PARLEY_PRICE_TABLE_URL", "")
    if not url:
        return ""
    from genai_prices import UpdatePrices, data_snapshot

    with _refresh_lock:
        try:
            snapshot = UpdatePrices(url=url).fetch()
        except Exception as exc:
            logger.warning("The price table could not be refreshed: %s", type(exc).__name__)
            return f"The price table could not be fetched ({type(exc).__name__})."
        if snapshot is not None:
            data_snapshot.set_custom_snapshot(snapshot)
    return "ok"
