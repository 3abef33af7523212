"""The address guard: IPv6 literals that carry a blocked IPv4 address, at save time and at connect time; admins
may point their own and shared endpoints inside the deployment, other users may not."""
import asyncio

import pytest

from providers import errors
from providers.models import CustomEndpoint
from providers.transport import GuardedNetworkBackend, address_blocked

EMBEDDED_BLOCKED = [
    "::7f00:1",            # IPv4-compatible 127.0.0.1
    "::ffff:127.0.0.1",    # IPv4-mapped loopback
    "::ffff:7f00:1",
    "64:ff9b::7f00:1",     # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "2002:7f00:1::",       # 6to4 of 127.0.0.1
    "2002:a00:1::1",       # 6to4 of 10.0.0.1
    "::a9fe:a9fe",         # IPv4-compatible 169.254.169.254
    "::ffff:0:a00:1",      # IPv4-translated 10.0.0.1
    "64:ff9b:1::a00:1",    # local-use NAT64
]


@pytest.mark.parametrize("address", EMBEDDED_BLOCKED)
def test_ipv6_forms_of_blocked_ipv4_are_blocked(address):
    assert address_blocked(address)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::", "::ffff:8.8.8.8", "2606:4700::1111"])
def test_ipv6_forms_of_public_ipv4_stay_allowed(address):
    assert not address_blocked(address)


@pytest.mark.parametrize("address", ["::7f00:1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::",
                                     "::a9fe:a9fe"])
def test_a_user_cannot_save_an_endpoint_at_an_embedded_address(api, address):
    answer = api.post("/api/v1/endpoints/", {"slug": "sneaky", "base_url": f"http://[{address}]:8000/v1"},
                      format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "blocked_endpoint"
    assert "admin" in answer.json()["detail"]
    assert not CustomEndpoint.objects.exists()


@pytest.mark.parametrize("address", ["::7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::"])
def test_connect_time_guard_refuses_embedded_addresses(address):
    async def connect():
        await GuardedNetworkBackend().connect_tcp(address, 80, timeout=2)

    with pytest.raises(errors.BlockedEndpoint):
        asyncio.run(connect())


def test_an_admin_may_add_a_private_endpoint_of_their_own_and_use_it(admin_api, fake_provider):
    answer = admin_api.post("/api/v1/endpoints/", {"slug": "lab", "base_url": f"{fake_provider.url}/lab",
                                                   "api_key": "lab-key-0001"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["shared"] is False
    # And the admin's own endpoint is reachable at connect time too (its catalog comes from the loopback fake).
    models = admin_api.get("/api/v1/models/?refresh=1&provider=lab").json()["models"]
    assert "lab/echo" in {entry["id"] for entry in models}


def test_an_admin_may_add_a_shared_private_endpoint(admin_api, fake_provider):
    answer = admin_api.post("/api/v1/endpoints/", {"slug": "team", "base_url": "http://10.1.2.3:8000/v1",
                                                   "shared": True}, format="json")
    assert answer.status_code == 201, answer.content


def test_a_non_admin_is_refused_with_a_clear_message(api, fake_provider):
    answer = api.post("/api/v1/endpoints/", {"slug": "lab", "base_url": f"{fake_provider.url}/lab"}, format="json")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "blocked_endpoint" and "only an admin" in body["detail"]


def test_a_demoted_admins_endpoint_is_guarded_again(admin_api, admin_user, fake_provider):
    from providers.models import PrivateCatalogFetch

    admin_api.post("/api/v1/endpoints/", {"slug": "lab", "base_url": f"{fake_provider.url}/lab"}, format="json")
    admin_user.is_staff = False
    admin_user.save()
    models = admin_api.get("/api/v1/models/?refresh=1&provider=lab").json()["models"]
    assert not models
    fetch = PrivateCatalogFetch.objects.get(owner=admin_user, provider="lab")
    assert fetch.ok is False and "private or loopback" in fetch.error
