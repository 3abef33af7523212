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
