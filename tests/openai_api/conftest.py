"""An OpenAI SDK client pointed at the live app's /v1 with a Parley API token."""
from dataclasses import dataclass

import openai
import pytest

from accounts.services import api_token_create


@dataclass
class Gateway:
    url: str
    user: object
    token: object  # the ApiToken row
    raw_token: str

    def client(self, api_key: str | None = None, **options) -> openai.OpenAI:
        options.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.raw_token if api_key is None else api_key,
                             **options)


@pytest.fixture
def gateway(live_asgi, fake_provider, make_user) -> Gateway:
    user = make_user("gwuser")
    token, raw = api_token_create(user=user, name="sdk")
    return Gateway(url=live_asgi.url, user=user, token=token, raw_token=raw)
