"""Gateway calls are visible to admins and cannot be changed there."""
import pytest

from openai_api.models import GatewayCall

pytestmark = pytest.mark.django_db


def test_gateway_calls_are_read_only_in_the_admin(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    call = GatewayCall.objects.create(owner=admin, model="openai/gpt-4o", status="complete", prompt_tokens=3)
    client.force_login(admin)
    listing = client.get("/admin/openai_api/gatewaycall/")
    assert listing.status_code == 200 and b"openai/gpt-4o" in listing.content
    assert client.get("/admin/openai_api/gatewaycall/add/").status_code == 403
    detail = client.get(f"/admin/openai_api/gatewaycall/{call.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.post(f"/admin/openai_api/gatewaycall/{call.pk}/delete/", {"post": "yes"}).status_code == 403
    assert GatewayCall.objects.filter(pk=call.pk).exists()
