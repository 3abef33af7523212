"""WebSocket `/ws/conversations/{id}/`: send a message and watch the reply, cancel it, resume a generation.

Client frames: {"type":"send","content","model"?,"attachments"?,"parent_id"?}, {"type":"cancel","generation_id"?},
{"type":"resume","generation_id","after"}, {"type":"tool_approval","id","approve"} (approval mode `ask`).
Server frames: the SPEC §4 events, one per frame; a bad frame gets an `error` event (without `seq`) and the
connection stays open. Anonymous → close 4401; another user's conversation → close 4404.

Live (SPEC §8, chats.live): every new message of the conversation, from this socket or anywhere else, arrives as
{"type":"message","message":{...}}; a new reply's generation events follow it on every socket.
"""
import asyncio
import contextlib
import functools
import json
import logging

from asgiref.sync import sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.http import Http404
from rest_framework import exceptions

from chats.generations import aconversation_reply_start, generation_cancel, generation_event_batches
from chats.live import conversation_group
from chats.selectors import conversation_for_streaming, generation_get, running_generation_id
from chats.tree import message_parent_get
from chats.validation import AttachmentIdsField, validate_message_content
from core import events
from core.json_limits import decode_frame
from providers.errors import ProviderError

logger = logging.getLogger("parley.generations")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class FrameError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _detail(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), "")
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    return str(detail)


class ConversationConsumer(AsyncWebsocketConsumer):
    async def __call__(self, scope, receive, send):
        """Channels' AsyncConsumer.__call__, except that an unreachable channel layer (Redis down) leaves this
        socket without one (its own replies still stream; live messages from elsewhere do not arrive) instead of
        failing the handshake with a 500."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        if self.channel_layer is not None:
            try:
                self.channel_name = await self.channel_layer.new_channel()
            except Exception:
                logger.warning("Chat WebSocket without live updates: the channel layer is unreachable")
                self.channel_layer = None
            else:
                self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        try:
            sources = [receive, self.channel_receive] if self.channel_layer is not None else [receive]
            await await_many_dispatch(sources, self.dispatch)
        except StopConsumer:
            pass

    async def connect(self):
        self.follow_task: asyncio.Task | None = None
        self.generation_id = None
        self.live_tasks: dict[str, asyncio.Task] = {}
        self.group = None
        self.user = self.scope.get("user")
        await self.accept()
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.conversation = await sync_to_async(conversation_for_streaming)(
                user=self.user, conversation_id=self.scope["url_route"]["kwargs"]["conversation_id"]
            )
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        if self.channel_layer is not None:
            try:
                await self.channel_layer.group_add(conversation_group(self.conversation.pk), self.channel_name)
                self.group = conversation_group(self.conversation.pk)
            except Exception:
                logger.warning("Chat WebSocket without live updates: the channel layer is unreachable")

    async def disconnect(self, code):
        # The reply goes on without us: only stop following it.
        await self._stop_following()
        for task in list(self.live_tasks.values()):
            task.cancel()
        if self.group is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def conversation_message(self, event):
        """A new message of this conversation (chats.live): shown, then its reply's events followed. The socket that
        started that reply (it follows it already) gets its events, not these frames."""
        generation_id = event.get("generation_id")
        if generation_id and generation_id == str(self.generation_id or ""):
            return
        await self.send(text_data=json.dumps({"type": "message", "message": event["message"]},
                                             separators=(",", ":")))
        if generation_id and event["message"].get("role") == "assistant" and generation_id not in self.live_tasks:
            task = asyncio.get_running_loop().create_task(self._relay(generation_id, 0))
            self.live_tasks[generation_id] = task
            task.add_done_callback(lambda _task, key=generation_id: self.live_tasks.pop(key, None))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = decode_frame(text_data, bytes_data)
            handler = {"send": self._send_message, "cancel": self._cancel, "resume": self._resume,
                       "tool_approval": self._tool_approval}.get(frame["type"])
            if handler is None:
                raise FrameError("unknown_type", f"Unknown frame type {frame['type']!r}; use send, cancel, resume "
                                 "or tool_approval.")
            await handler(frame)
        except FrameError as exc:
            await self._error(exc.code, exc.message)
        except ProviderError as exc:
            await self._error(exc.code, exc.message, retryable=exc.retryable)
        except exceptions.APIException as exc:
            await self._error(exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code, _detail(exc))
        except Http404:
            await self._error("not_found", "No such generation.")

    async def _error(self, code, message: str, *, retryable: bool = False):
        if not isinstance(code, str):
            code = "invalid"
        await self.send(text_data=json.dumps(events.error(code=code, message=message, retryable=retryable)))

    # --- frames ---

    async def _send_message(self, frame: dict):
        unknown = set(frame) - {"type", "content", "message", "model", "attachments", "parent_id"}
        if unknown:
            raise FrameError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}.")
        content = frame.get("content", frame.get("message"))
        if not isinstance(content, str):
            raise FrameError("invalid", '"content" must be a string.')
        model = frame.get("model") or ""
        if not isinstance(model, str):
            raise FrameError("invalid", '"model" must be a string.')
        try:
            content = validate_message_content(content)
        except exceptions.ValidationError as exc:
            raise FrameError(str(exc.get_codes()[0]) if isinstance(exc.get_codes(), list) else "invalid",
                             _detail(exc))
        try:
            attachments = AttachmentIdsField().run_validation(frame.get("attachments", []))
        except exceptions.ValidationError as exc:
            codes = exc.get_codes()
            raise FrameError(str(codes[0]) if isinstance(codes, list) and codes else "invalid_attachment",
                             _detail(exc))
        extra = {}
        if "parent_id" in frame:
            extra["parent"] = await sync_to_async(message_parent_get)(
                user=self.user, conversation=self.conversation, parent_id=frame["parent_id"])
        # An unusable model is a ProviderError from route resolution (invalid_model, unknown_provider, ...).
        generation = await aconversation_reply_start(user=self.user, conversation=self.conversation,
                                                     content=content, model=model.strip() or None,
                                                     attachments=attachments, **extra)
        await self._follow(generation.pk, 0)

    async def _cancel(self, frame: dict):
        generation_id = frame.get("generation_id") or self.generation_id
        if generation_id is None:
            generation_id = await sync_to_async(running_generation_id)(conversation=self.conversation)
        if generation_id is None:
            raise FrameError("nothing_to_cancel", "No reply is streaming in this conversation.")
        await sync_to_async(generation_cancel)(user=self.user, generation_id=generation_id)

    async def _tool_approval(self, frame: dict):
        """Approve or refuse a call of a reply in this conversation that waits in approval mode `ask`."""
        from chats.generations.approvals import tool_approval_decide

        unknown = set(frame) - {"type", "id", "approve"}
        if unknown:
            raise FrameError("unknown_field", f"Unknown fields: {', '.join(sorted(unknown))}.")
        if not isinstance(frame.get("id"), str) or not frame["id"] or not isinstance(frame.get("approve"), bool):
            raise FrameError("invalid", '"id" must be a tool call id and "approve" true or false.')
        await sync_to_async(tool_approval_decide)(user=self.user, conversation=self.conversation,
                                                   call_id=frame["id"], approve=frame["approve"])

    async def _resume(self, frame: dict):
        after = frame.get("after", 0)
        if isinstance(after, str) and after.isdigit():
            after = int(after)  # an SSE-style "Last-Event-ID" kept as text
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise FrameError("invalid", '"after" must be a whole number ≥ 0.')
        generation = await sync_to_async(generation_get)(user=self.user, generation_id=frame.get("generation_id"))
        if generation.conversation_id != self.conversation.pk:
            raise Http404()
        await self._follow(generation.pk, after)

    # --- following a generation ---

    async def _follow(self, generation_id, after: int):
        await self._stop_following()
        self.generation_id = generation_id
        self.follow_task = asyncio.get_running_loop().create_task(self._relay(generation_id, after))

    async def _relay(self, generation_id, after: int):
        async with contextlib.aclosing(generation_event_batches(generation_id, after=after)) as batches:
            async for batch in batches:
                for event in batch:
                    await self.send(text_data=json.dumps(event, separators=(",", ":")))

    async def _stop_following(self):
        task, self.follow_task = self.follow_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
