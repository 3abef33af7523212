"""Content negotiation that answers JSON when the Accept header names nothing we render, instead of 406."""
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class JsonFallbackContentNegotiation(DefaultContentNegotiation):
    """SSE clients send `Accept: text/event-stream` to every URL they follow (the merge stream is a DRF view, so its
    errors too) and browsers `text/html`: they get the API's JSON, never a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise  # an explicit ?format= we do not have stays a 406
            return renderers[0], renderers[0].media_type
