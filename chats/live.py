"""Live conversations (SPEC §8): every new message or reply in a conversation, whatever started it (a tab, another
device, an API client, a compare), reaches every open conversation WebSocket as `{"type":"message",...}`, and the
sockets then follow that reply's generation. The consumer joins `conversation_group(id)`; the engine and the REST
views call `announce_messages` once the rows are committed."""
import asyncio
import logging

from asgiref.sync import async_to_sync

logger = logging.getLogger("parley.live")


def conversation_group(conversation_id) -> str:
    return f"parley.conversation.{conversation_id}"


def message_payload(message) -> dict:
    """The message as the REST API shows it (sibling_index/sibling_count included), JSON-ready."""
    import json

    from rest_framework.renderers import JSONRenderer

    from chats.serializers import MessageSerializer

    return json.loads(JSONRenderer().render(MessageSerializer(message).data))


def reply_message_payloads(generation_id) -> list[dict]:
    """What the socket that sent a message announces to itself before its reply's events: the same `message`
    frames every other socket gets (the user message, then the reply), so a client has one code path."""
    from chats.models import Generation

    generation = Generation.objects.select_related("message__reply_to").filter(pk=generation_id).first()
    message = generation.message if generation is not None else None
    if message is None:
        return []
    return [message_payload(item) for item in (message.reply_to, message) if item is not None]


def announce_messages(messages, *, generation_id=None, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Tell the conversation's sockets about `messages` (the last one's generation, if any, to follow)."""
    from channels.layers import get_channel_layer

    from chats.generations.running import server_loop

    layer = get_channel_layer()
    if layer is None or not messages:
        return
    loop = loop or server_loop()
    # Every frame names the reply's generation: the socket that sent it, which announced the frames to itself before
    # following the reply (chats.consumers), skips them.
    events = [
        {"type": "conversation.message", "message": message_payload(message),
         "generation_id": str(generation_id) if generation_id else None}
        for message in messages
    ]
    group = conversation_group(messages[0].conversation_id)

    async def send_all():
        for event in events:
            await layer.group_send(group, event)

    try:
        if loop is not None:
            # The in-memory layer lives in the server's loop: hand the sends to it.
            asyncio.run_coroutine_threadsafe(send_all(), loop)
        else:
            async_to_sync(send_all)()
    except Exception:
        logger.warning("Could not announce new messages of conversation %s", messages[0].conversation_id)
