"""WebSocket `ws/merges/{id}/`: a merge job's events (current state first, then live) until merge_complete."""
import asyncio
import contextlib

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from merging import selectors
from merging.streams import merge_job_events


class MergeJobConsumer(AsyncJsonWebsocketConsumer):
    """Send-only: the server pushes the same JSON events as the SSE stream, then closes."""

    follower: asyncio.Task | None = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        try:
            job = await database_sync_to_async(selectors.merge_job_get)(
                owner=user, job_id=self.scope["url_route"]["kwargs"]["job_id"])
        except Http404:
            await self.close(code=4404)
            return
        await self.accept()
        self.follower = asyncio.create_task(self._follow(job.id))

    async def _follow(self, job_id):
        async for event in merge_job_events(job_id):
            if event is not None:
                await self.send_json(event)
        await self.close()

    async def receive_json(self, content, **kwargs):
        # Clients have nothing to say on this socket; a ping is answered so they can check liveness.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def disconnect(self, code):
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower
