"""WhiteNoise behind an async-capable middleware, so API and streaming requests take no thread hop for it."""
from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware:
    """Serves STATIC_URL through WhiteNoise; every other request passes straight on, async when the stack is.

    WhiteNoise's own middleware is sync-only, which makes Django run the whole async chain through two
    thread switches per request; on the streaming endpoints that is time before the first token.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.whitenoise = WhiteNoiseMiddleware(get_response=None)
        self.prefix = self.whitenoise.static_prefix
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _find(self, request):
        if self.whitenoise.autorefresh:
            return self.whitenoise.find_file(request.path_info)
        return self.whitenoise.files.get(request.path_info)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        if request.path_info.startswith(self.prefix):
            static_file = self._find(request)
            if static_file is not None:
                return self.whitenoise.serve(static_file, request)
        return self.get_response(request)

    async def __acall__(self, request):
        if request.path_info.startswith(self.prefix):
            # Finding (with autorefresh) and opening a file touch the disk: keep that off the event loop.
            static_file = await sync_to_async(self._find, thread_sensitive=False)(request)
            if static_file is not None:
                return await sync_to_async(self.whitenoise.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
