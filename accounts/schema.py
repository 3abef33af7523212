"""OpenAPI description of the Bearer token and session authentication (loaded by AccountsConfig.ready)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token: `Authorization: Bearer pk_…` (create one at /api/v1/tokens/).",
        }


class SameOriginSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SameOriginSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The browser session (CSRF token required on unsafe methods); requests from another "
            "site's page are refused with 403 `cross_site`.",
        }
