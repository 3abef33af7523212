"""The project boots: migrations apply and the API docs are served."""


def test_schema_is_served(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content


def test_unknown_api_path_is_json_404(client, db):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404


def test_unknown_api_path_is_json_404_even_in_debug(client, db, settings):
    settings.DEBUG = True
    response = client.get("/api/v1/no-such-thing/deeper/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_api_docs_serve_their_assets_locally(client, db):
    import re

    for page in ("/api/docs/", "/api/redoc/"):
        response = client.get(page)
        assert response.status_code == 200
        html = response.content.decode()
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert assets, page
        for asset in assets:
            served = client.get(asset)
            assert served.status_code == 200, asset
            served.close()
