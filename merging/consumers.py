"""WebSockets of compare and merge: `ws/compare/` runs or follows compares, `ws/merges/{id}/` follows a merge job.

Like `ws/conversations/{id}/`: anonymous → close 4401, another user's object → close 4404 (after accepting, so the
client sees the code); a bad frame gets an `error` event and the connection stays open.
"""
import asyncio
import contextlib

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404
from rest_framework import exceptions

from core import events
from core.json_limits import decode_frame
from merging import selectors
from merging.streams import merge_job_events
from providers.errors import ProviderError

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class FrameCheckingConsumer(AsyncJsonWebsocketConsumer):
    """Every client frame is checked first (binary, size, depth, NUL, not an object): a bad one gets an `error`
    frame and the connection stays open."""

    # Not a layer in CHANNEL_LAYERS, so Channels gives these consumers no channel of their own: they receive nothing
    # through one (merge events come through merging.broadcast, which follows the database while Redis is down), so
    # none is subscribed in Redis for each socket.
    channel_layer_alias = "none"

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            frame = decode_frame(text_data, bytes_data)
        except exceptions.APIException as exc:
            code, message = _api_error(exc)
            await self.send_json(events.error(code=code, message=message))
            return
        await self.receive_json(frame, **kwargs)


class MergeJobConsumer(FrameCheckingConsumer):
    """Send-only: the same JSON events as the SSE stream (current state first), then the server closes."""

    follower: asyncio.Task | None = None

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            job = await database_sync_to_async(selectors.merge_job_get)(
                owner=user, job_id=self.scope["url_route"]["kwargs"]["job_id"])
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.follower = asyncio.create_task(self._follow(job.id))

    async def _follow(self, job_id):
        async for event in merge_job_events(job_id):
            if event is not None:
                await self.send_json(event)
        await self.close()

    async def receive_json(self, content, **kwargs):
        if content["type"] == "ping":
            await self.send_json(events.pong())
        else:
            await self.send_json(events.error(
                code="unknown_type", message="This socket only follows the merge; the one frame it takes is ping."))

    async def disconnect(self, code):
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower


def _api_error(exc: exceptions.APIException) -> tuple[str, str]:
    detail = exc.detail
    codes = exc.get_codes()
    while isinstance(detail, dict | list) and detail:
        detail = next(iter(detail.values())) if isinstance(detail, dict) else detail[0]
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes), str(detail)


def _seq(value) -> int | None:
    """A seq ≥ 0 given as a number or as digits (an SSE-style Last-Event-ID); None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class CompareConsumer(FrameCheckingConsumer):
    """Client frames: {"type":"compare","prompt","models"?,"conversation_id"?} starts a compare;
    {"type":"follow","group_id","after"?:{generation_id: seq}} follows an earlier one; {"type":"cancel",
    "generation_id"?} stops one model (or all) of the compare being followed.
    Server frames: `compare_started` {conversation_id, user_message_id, group_id, generations:[{model,
    message_id, generation_id}]}, then every generation's events tagged with `model`, `message_id`,
    `generation_id` (and their own `seq`), then `compare_complete` {group_id, selected_message_id}."""

    follower: asyncio.Task | None = None
    run = None

    async def connect(self):
        await self.accept()
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def receive_json(self, content, **kwargs):
        kind = content["type"]
        handler = {"compare": self._compare, "follow": self._follow_group, "cancel": self._cancel}.get(kind)
        if handler is None:
            await self._error("unknown_type", "Use a frame of type compare, follow or cancel.")
            return
        try:
            await handler(content)
        except exceptions.APIException as exc:
            await self._error(*_api_error(exc))
        except ProviderError as exc:
            await self._error(exc.code, exc.message)
        except Http404:
            await self._error("not_found", "Not found.")

    async def _error(self, code: str, message: str):
        await self.send_json(events.error(code=code, message=message))

    async def _compare(self, frame: dict):
        from merging.api.compare import compare_request_validate
        from merging.compare import compare_start

        data = {k: v for k, v in frame.items() if k != "type"}
        validated = await sync_to_async(compare_request_validate)(data, self.user)
        run = await compare_start(user=self.user, prompt=validated["prompt"], models=validated["models"],
                                  conversation_id=validated.get("conversation_id"),
                                  attachments=validated["attachments"], tools=validated.get("tools"))
        await self._start_following(run, {})

    async def _follow_group(self, frame: dict):
        from merging.compare import compare_group

        after = frame.get("after") or {}
        if not isinstance(after, dict):
            after = None
        else:
            after = {str(k): _seq(v) for k, v in after.items()}
        if after is None or None in after.values():
            raise exceptions.ValidationError({"after": ['"after" maps generation ids to whole numbers ≥ 0.']},
                                             code="invalid")
        group_id = frame.get("group_id", "")
        if not isinstance(group_id, str):
            raise exceptions.NotFound()
        run = await sync_to_async(compare_group)(user=self.user, group_id=group_id)
        await self._start_following(run, after)

    async def _cancel(self, frame: dict):
        from chats.generations import generation_cancel

        if self.run is None:
            await self._error("nothing_to_cancel", "No compare is being followed on this socket.")
            return
        wanted = frame.get("generation_id")
        for generation in self.run.generations:
            if wanted in (None, str(generation.id)):
                with contextlib.suppress(Http404, exceptions.APIException):
                    await sync_to_async(generation_cancel)(user=self.user, generation_id=generation.id)

    async def _start_following(self, run, after: dict[str, int]):
        await self._stop_following()
        self.run = run
        await self.send_json(events.compare_started(
            conversation_id=str(run.conversation.id), user_message_id=str(run.user_message.id),
            group_id=str(run.group_id),
            generations=[{"model": g.model, "message_id": str(g.message_id), "generation_id": str(g.id)}
                         for g in run.generations],
        ))
        self.follower = asyncio.create_task(self._forward(run, after))

    async def _forward(self, run, after):
        from merging.compare import compare_events, compare_selection

        async with contextlib.aclosing(compare_events(run, after=after)) as tagged_events:
            async for event in tagged_events:
                await self.send_json(event)
        selected = await compare_selection(run)
        await self.send_json(events.compare_complete(group_id=str(run.group_id), selected_message_id=selected))

    async def _stop_following(self):
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower
            self.follower = None

    async def disconnect(self, code):
        # The generations go on without us.
        await self._stop_following()
