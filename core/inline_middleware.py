"""Django's own middlewares run on the event loop: their request and response steps only read and set headers and
lazy attributes, so the thread hop Django's MiddlewareMixin gives each step (a dozen per request) buys nothing.

A response step that may block (a session or message store that has to be written) still takes its hop. Django's
security, CSRF and clickjacking middlewares keep their own paths in MIDDLEWARE (`check --deploy` looks for them).
"""
from asgiref.sync import sync_to_async
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as BaseAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as BaseMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as BaseSessionMiddleware
from django.middleware.common import CommonMiddleware as BaseCommonMiddleware


class OnLoop:
    """Put before a MiddlewareMixin subclass: its process_request and process_response run inline in async mode;
    `response_may_block` says when process_response must run on a thread instead."""

    def response_may_block(self, request, response) -> bool:
        return False

    async def __acall__(self, request):
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_may_block(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class CSPMiddleware(OnLoop, BaseCSPMiddleware):
    pass


class SessionMiddleware(OnLoop, BaseSessionMiddleware):
    def response_may_block(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(OnLoop, BaseCommonMiddleware):
    pass


class AuthenticationMiddleware(OnLoop, BaseAuthenticationMiddleware):
    pass


class MessageMiddleware(OnLoop, BaseMessageMiddleware):
    def response_may_block(self, request, response) -> bool:
        messages = getattr(request, "_messages", None)
        return messages is not None and (messages.used or messages.added_new)
