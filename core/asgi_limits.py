"""ASGI guard: a request body over PARLEY_MAX_JSON_BYTES is answered 413 before Django reads it (multipart exempt).

Django's ASGI handler spools the whole body before any view runs, so a limit in a view or parser comes too late
for a 50 MB body: this refuses a too-large Content-Length at once, and stops a chunked body once it passes the limit.
"""
import json

from django.conf import settings

_EXEMPT_TYPES = (b"multipart/form-data",)  # uploads: their own limits apply


def _too_large_body() -> bytes:
    limit = settings.PARLEY_MAX_JSON_BYTES
    return json.dumps({"detail": f"A JSON body holds at most {limit} bytes.", "code": "too_large"}).encode()


class RequestBodyLimit:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(_EXEMPT_TYPES):
            return await self.application(scope, receive, send)
        limit = settings.PARLEY_MAX_JSON_BYTES
        try:
            declared = int(headers.get(b"content-length", b"") or -1)
        except ValueError:
            declared = -1
        if declared > limit:
            return await self._refuse(send)
        state = {"received": 0, "over": False}

        async def limited_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    # Django's handler stops reading at a disconnect and answers nothing; we answer below.
                    state["over"] = True
                    return {"type": "http.disconnect"}
            return message

        await self.application(scope, limited_receive, send)
        if state["over"]:
            await self._refuse(send)

    @staticmethod
    async def _refuse(send):
        body = _too_large_body()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
