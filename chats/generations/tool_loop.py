"""The tool loop inside a generation: offer MCP tools, run the calls a round asks for, send the results back."""
import asyncio
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from chats.generations.errors import Interrupted
from chats.generations.state import ReplyState
from chats.models import GenerationStatus
from core import events
from core.db_workers import db_call
from providers.base import ChatMessage, ChatRequest
from providers.events import EventKind

logger = logging.getLogger("parley.generations")

REFUSED = "The user refused this tool call."
# The keys a stored reply's metadata keeps for the loop (SPEC §7) and for replaying it (tool_loop.replay_reply).
LOOP_KEYS = ("tool_calls", "tool_results", "tool_rounds")


@dataclass
class ToolOffer:
    """What a reply may call: `offered` as tools.selectors.offered_tools returns it, and the approval mode."""

    offered: list[dict] = field(default_factory=list)
    approval: str = "auto"

    def wire_tools(self) -> list[dict]:
        """The tools in OpenAI's form, which every adapter turns into its own (Anthropic `tools`, Gemini
        `functionDeclarations`)."""
        return [{"type": "function", "function": {"name": tool["wire_name"], "description": tool["description"],
                                                  "parameters": _object_schema(tool["input_schema"])}}
                for tool in self.offered]


def _object_schema(schema) -> dict:
    return schema if isinstance(schema, dict) and schema.get("type") == "object" else {"type": "object",
                                                                                         "properties": {}}


class ToolReplyState(ReplyState):
    """A reply that runs tools: each call is named for the user ("<server>/<tool>"), numbered uniquely within the
    reply (Gemini numbers its calls per response), and remembered with its round and its place in the text."""

    def __init__(self, accepted_at: float, offer: ToolOffer):
        super().__init__(accepted_at)
        self.by_wire = {tool["wire_name"]: tool for tool in offer.offered}
        self.round = 1
        self.round_calls: list[dict] = []
        self.tool_results: list[dict] = []
        self.tool_rounds: list[dict] = []

    def resume_from(self, stored: dict) -> None:
        """Go on from a stopped reply's calls and results (continue): new rounds are numbered after them."""
        self.tool_calls = [call for call in stored.get("tool_calls") or () if isinstance(call, dict)]
        self.tool_results = [result for result in stored.get("tool_results") or () if isinstance(result, dict)]
        self.tool_rounds = [item for item in stored.get("tool_rounds") or () if isinstance(item, dict)]
        self.round = 1 + max((int(call.get("round") or 0) for call in self.tool_calls), default=0)

    def translate(self, event, seq: int) -> dict | None:
        if event.kind is not EventKind.TOOL_CALL:
            return super().translate(event, seq)
        wire = str(event.data.get("name") or "")
        tool = self.by_wire.get(wire)
        taken = {call["id"] for call in self.tool_calls}
        call_id = str(event.data.get("id") or "")
        if not call_id or call_id in taken:
            call_id = f"call_{self.round}_{len(self.round_calls) + 1}"
            while call_id in taken:
                call_id += "_"
        arguments = event.data.get("arguments")
        arguments = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
        call = {"id": call_id, "name": tool["name"] if tool else wire, "arguments": arguments, "round": self.round,
                "offset": sum(len(piece) for piece in self.content), "wire_name": wire}
        self.tool_calls.append(call)
        self.round_calls.append(call)
        return events.tool_call(seq=seq, id=call_id, name=call["name"], arguments=arguments)


@dataclass
class _Totals:
    usage: dict = field(default_factory=dict)
    cost: Decimal | None = None
    priced: bool = True

    def add(self, reply: ReplyState) -> None:
        if not reply.usage:
            return
        for key, value in reply.usage.items():
            self.usage[key] = self.usage.get(key, 0) + value
        if reply.cost is None:
            self.priced = False
        else:
            self.cost = (self.cost or Decimal(0)) + reply.cost
        reply.usage, reply.cost = {}, None

    def apply(self, reply: ReplyState) -> None:
        if self.usage:
            reply.usage = self.usage
            reply.cost = self.cost if self.priced else None


async def run_with_tools(reply: ToolReplyState, route, request: ChatRequest, emit, next_seq, stop_reason, *,
                         offer: ToolOffer, generation_id: str | None, read_reply,
                         stored=None) -> tuple[str, object]:
    """Provider rounds until one ends without tool calls. The calls of a round run together; their results go back
    in the next round. After PARLEY_TOOL_MAX_ROUNDS rounds of calls the model is asked to answer without tools
    (`tool_choice: none`); calls it still makes are reported to it as not run and the reply ends there."""
    max_rounds = max(1, settings.PARLEY_TOOL_MAX_ROUNDS)
    request = ChatRequest(messages=list(request.messages), system=request.system,
                          params={**request.params, "tools": offer.wire_tools()})
    totals = _Totals()
    status, error = GenerationStatus.COMPLETE, None
    while True:
        reply.round_calls, reply.finished = [], False
        text_start = sum(len(piece) for piece in reply.content)
        status, error = await read_reply(reply, route, request, emit, next_seq, stop_reason)
        totals.add(reply)
        provider = reply.metadata.pop("provider", {}) or {}
        provider.pop("tool_calls", None)
        if status != GenerationStatus.COMPLETE or not reply.round_calls:
            if provider:
                reply.metadata["provider"] = provider
            break
        calls = reply.round_calls
        reply.tool_rounds.append({"round": reply.round, "provider": provider})
        text = "".join(reply.content)[text_start:]
        request.messages.append(ChatMessage(role="assistant", content=text, metadata={
            **provider, "tool_calls": [_wire_call(call) for call in calls]}))
        over_cap = reply.round > max_rounds
        try:
            results = await asyncio.gather(*(
                _run_call(call, reply=reply, emit=emit, next_seq=next_seq, offer=offer, generation_id=generation_id,
                          over_cap=over_cap, stored=stored) for call in calls))
        except asyncio.CancelledError:
            # A cancel (or shutdown) during a tool call: the reply ends as a cancelled one does, text kept.
            asyncio.current_task().uncancel()
            status = stop_reason() or GenerationStatus.INTERRUPTED
            error = Interrupted() if status == GenerationStatus.INTERRUPTED else None
            break
        request.messages.extend(_tool_message(call, result) for call, result in zip(calls, results, strict=True))
        if over_cap:
            reply.finish_reason = "tool_calls"
            break
        if reply.round == max_rounds:
            request.params["tool_choice"] = "none"
        reply.round += 1
    totals.apply(reply)
    return status, error


def _wire_call(call: dict) -> dict:
    return {"id": call["id"], "name": call["wire_name"], "arguments": call["arguments"] or "{}"}


def _tool_message(call: dict, result: dict) -> ChatMessage:
    return ChatMessage(role="tool", content=result["content"], metadata={
        "tool_call_id": call["id"], "tool_name": call["wire_name"], "is_error": result["is_error"]})


async def _run_call(call: dict, *, reply: ToolReplyState, emit, next_seq, offer: ToolOffer, generation_id,
                    over_cap: bool, stored) -> dict:
    """Check, (in `ask` mode) approve, and run one call; its `tool_result` is emitted and kept with the reply."""
    try:
        content, is_error = await _outcome(call, reply=reply, emit=emit, next_seq=next_seq, offer=offer,
                                           generation_id=generation_id, over_cap=over_cap, stored=stored)
    except Exception:  # ours (the database, a bug), not the tool's: the model is told, the reply goes on
        logger.exception("Running the tool call %s of generation %s failed", call["id"], generation_id)
        content, is_error = "The tool call failed inside Parley.", True
    result = {"id": call["id"], "name": call["name"], "content": content or "(no output)", "is_error": is_error}
    reply.tool_results.append(result)
    emit(events.tool_result(seq=next_seq(), **result))
    return result


async def _outcome(call: dict, *, reply: ToolReplyState, emit, next_seq, offer: ToolOffer, generation_id,
                   over_cap: bool, stored) -> tuple[str, bool]:
    if over_cap:
        return (f"Not run: this reply has used its {settings.PARLEY_TOOL_MAX_ROUNDS} rounds of tool calls. Answer "
                "with what you have.", True)
    tool = reply.by_wire.get(call["wire_name"])
    if tool is None:
        offered = ", ".join(sorted(reply.by_wire)) or "none"
        return f"There is no tool called {call['wire_name'][:100]!r}. The tools offered are: {offered}.", True
    try:
        arguments = json.loads(call["arguments"] or "{}")
    except ValueError:
        return "The arguments are not valid JSON; send one JSON object matching the tool's input schema.", True
    if not isinstance(arguments, dict):
        return "The arguments must be a JSON object.", True
    problem = _schema_problem(arguments, tool["input_schema"])
    if problem:
        return f"The arguments do not match the tool's input schema: {problem}", True
    if offer.approval == "ask" and generation_id is not None:
        from chats.generations.approvals import approval_wait

        def announce():
            emit(events.tool_approval(seq=next_seq(), id=call["id"], name=call["name"], arguments=call["arguments"]))

        if not await approval_wait(generation_id=generation_id, call_id=call["id"], name=call["name"],
                                   announce=announce, stored=stored):
            return REFUSED, True
    return await _call_mcp(tool, arguments)


def _schema_problem(arguments: dict, schema) -> str:
    import jsonschema

    if not isinstance(schema, dict):
        return ""
    try:
        jsonschema.validate(arguments, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(part) for part in exc.absolute_path)
        return (f"{where}: " if where else "") + exc.message[:300]
    except jsonschema.SchemaError:
        return ""  # the server's own schema is broken: let the server judge the arguments
    return ""


def _server(server_id: int):
    from tools.models import McpServer

    return McpServer.objects.select_related("owner").filter(pk=server_id, enabled=True).first()


async def _call_mcp(tool: dict, arguments: dict) -> tuple[str, bool]:
    from tools.services import mcp_tool_call_async

    server = await db_call(_server, tool["server_id"])
    if server is None:
        return f"The MCP server of {tool['name']!r} was removed or disabled.", True
    result = await mcp_tool_call_async(server=server, name=tool["tool"], arguments=arguments)
    # An image comes back as its text placeholder ("[image: image/png]"): not every protocol takes images in results.
    return result.content, result.is_error


# --- stored replies, replayed ----------------------------------------------------------------------------------------


def stored_fields(reply: ReplyState) -> dict:
    """What a reply that ran tools stores in its metadata (SPEC §7), beside the provider's own."""
    if not isinstance(reply, ToolReplyState):
        return {"tool_calls": reply.tool_calls} if reply.tool_calls else {}
    if not reply.tool_calls:
        return {}
    return {"tool_calls": reply.tool_calls, "tool_results": reply.tool_results, "tool_rounds": reply.tool_rounds}


def replay_reply(*, content: str, reasoning: str, metadata: dict) -> list[ChatMessage]:
    """A stored reply as the model sent it: for each round of tool calls, its text and calls, then their results;
    last, the text after them. Calls that never got a result (a cancel) are left out, and so is empty text."""
    metadata = metadata or {}
    calls = [call for call in metadata.get("tool_calls") or () if isinstance(call, dict) and "round" in call]
    results = {result.get("id"): result for result in metadata.get("tool_results") or () if isinstance(result, dict)}
    rest = {key: value for key, value in metadata.items() if key not in LOOP_KEYS}
    if not calls:
        return [ChatMessage(role="assistant", content=content, reasoning=reasoning, metadata=metadata)]
    provider = {item.get("round"): item.get("provider") or {} for item in metadata.get("tool_rounds") or ()
                if isinstance(item, dict)}
    out, start = [], 0
    for number in sorted({call["round"] for call in calls}):
        answered = [call for call in calls if call["round"] == number and call.get("id") in results]
        if not answered:
            continue
        end = max(start, min(int(call.get("offset") or 0) for call in answered))
        out.append(ChatMessage(role="assistant", content=content[start:end], metadata={
            **provider.get(number, {}),
            "tool_calls": [{"id": call["id"], "name": call.get("wire_name") or call.get("name", ""),
                            "arguments": call.get("arguments") or "{}"} for call in answered]}))
        for call in answered:
            result = results[call["id"]]
            out.append(ChatMessage(role="tool", content=str(result.get("content") or ""), metadata={
                "tool_call_id": call["id"], "tool_name": call.get("wire_name") or call.get("name", ""),
                "is_error": bool(result.get("is_error"))}))
        start = end
    if content[start:]:
        out.append(ChatMessage(role="assistant", content=content[start:], reasoning=reasoning, metadata=rest))
    return out
