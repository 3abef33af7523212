"""Prices: the provider's figure first, then the caller's catalog (their own where it is theirs), then the table."""
from decimal import Decimal

import pytest
from django.utils import timezone

from providers.models import PrivateCatalogModel, ProviderKey
from providers.pricing import Prices, model_prices, price_usage, table_prices
from tests.usage.conftest import price

pytestmark = pytest.mark.django_db


def test_cached_and_reasoning_tokens_get_their_own_prices():
    prices = Prices(prompt=Decimal("0.000002"), completion=Decimal("0.00001"), cached_prompt=Decimal("0.0000005"),
                    reasoning=Decimal("0.00002"))
    usage = {"prompt_tokens": 1000, "cached_tokens": 400, "completion_tokens": 300, "reasoning_tokens": 100}
    assert prices.cost(usage) == (600 * Decimal("0.000002") + 400 * Decimal("0.0000005")
                                  + 200 * Decimal("0.00001") + 100 * Decimal("0.00002"))


def test_the_provider_figure_wins_then_the_catalog():
    price("openai/story-5-0", "0.001", "0.002")
    usage = {"prompt_tokens": 3, "completion_tokens": 5}
    assert price_usage("openai/story-5-0", usage) == (Decimal("0.013"), "catalog")
    assert price_usage("openai/story-5-0", dict(usage, cost=0.5)) == (Decimal("0.5"), "provider")
    assert price_usage("openai/no-such-model-anywhere", usage) == (None, "")


def test_the_pinned_table_prices_known_models_with_their_cache_price():
    prices = table_prices("openai/gpt-4o")
    assert prices.prompt == Decimal("2.5") / 1_000_000 and prices.completion == Decimal("10") / 1_000_000
    assert prices.cached_prompt == Decimal("1.25") / 1_000_000
    assert table_prices("anthropic/claude-sonnet-4-5").prompt == Decimal("3") / 1_000_000
    assert table_prices("gemini/gemini-2.5-flash") is not None
    assert table_prices("openrouter/openai/gpt-4o") is not None
    cost, source = price_usage("openai/gpt-4o", {"prompt_tokens": 1000, "cached_tokens": 1000,
                                                 "completion_tokens": 0})
    assert (cost, source) == (Decimal("0.00125"), "catalog")


def test_a_users_own_catalog_prices_their_calls(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    price("openai/story-5-0", "0.001", "0.001")
    key = ProviderKey(owner=alice, provider="openai", label="mine")
    key.set_secret("sk-alice")
    key.save()
    PrivateCatalogModel.objects.create(owner=alice, model="openai/story-5-0", provider="openai", name="mine",
                                       pricing_prompt=Decimal("0.1"), pricing_completion=Decimal("0.1"),
                                       fetched_at=timezone.now())
    assert model_prices("openai/story-5-0", user_id=alice.pk).prompt == Decimal("0.1")
    assert model_prices("openai/story-5-0", user_id=bob.pk).prompt == Decimal("0.001")


@pytest.fixture
def price_table_server():
    """A loopback server answering the price table URL with an empty table."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"[]" if self.path == "/data.json" else b"{}"
            self.send_response(200 if self.path == "/data.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    from genai_prices import data_snapshot

    data_snapshot.set_custom_snapshot(None)


def test_the_catalog_refresh_refreshes_the_price_table(settings, price_table_server, fake_provider):
    from providers.services import catalog_refresh

    assert table_prices("openai/gpt-4o") is not None
    settings.PARLEY_PRICE_TABLE_URL = f"{price_table_server}/missing.json"
    catalog_refresh(user_id=None)
    assert table_prices("openai/gpt-4o") is not None  # a failed fetch keeps the pinned table
    settings.PARLEY_PRICE_TABLE_URL = f"{price_table_server}/data.json"
    catalog_refresh(user_id=None)
    assert table_prices("openai/gpt-4o") is None  # the fetched (here: empty) table is the one in use
