"""The fake provider as a raw ASGI app served by uvicorn: routes by provider path, records every request."""
import asyncio
import hashlib
import json
import re
import secrets
import struct
import threading
import time
import zlib
from urllib.parse import parse_qs

from providers.fake import parts, wire
from providers.fake.scripts import TOOL_MODELS, behaviour_name, plan_for, tool_plan

GEMINI_STREAM = re.compile(r"^/gemini/v1beta/models/(?P<model>[^/:]+):streamGenerateContent$")
DEEPGRAM_GRANT = ("/v1/auth/grant", "/deepgram/v1/auth/grant")
DEEPGRAM_LISTEN = ("/v1/listen", "/deepgram/v1/listen")
OPENAI_PATH = re.compile(r"^/(?P<slug>[a-z0-9][a-z0-9_-]*)/(?P<rest>chat/completions|models|key)$")
IMAGE_PATH = re.compile(r"^/media/[\w.-]+\.png$")


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG: a model's answer can link it as an image from "another host"."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


IMAGE = _png(96, 64, (46, 125, 220))


class FakeProviderApp:
    """Speaks OpenAI chat completions (any slug), Anthropic Messages and Gemini on the SPEC paths, and Deepgram's
token grant and live socket (`/deepgram/v1/...`, or `/v1/...`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.recorded: list[dict] = []
        self.seen_prompts: set[str] = set()
        self.failing_model_lists: set[str] = set()
        self.deepgram_tokens: set[str] = set()

    # --- inspection ---------------------------------------------------------------------------
    def requests(self) -> list[dict]:
        with self._lock:
            return [dict(item) for item in self.recorded]

    def clear(self) -> None:
        with self._lock:
            self.recorded.clear()
            self.seen_prompts.clear()
            self.failing_model_lists.clear()
            self.deepgram_tokens.clear()

    # --- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            return await self._listen(scope, receive, send)
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        query = parse_qs(scope.get("query_string", b"").decode())
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if path.startswith("/_fake/"):
            return await self._control(method, path, payload, send)
        record = {"method": method, "path": path, "query": scope.get("query_string", b"").decode(),
                  "headers": headers, "json": payload, "disconnected": False, "at": time.time()}
        with self._lock:
            self.recorded.append(record)
        await self._route(method, path, query, headers, payload, record, receive, send)

    async def _control(self, method, path, payload, send):
        if path == "/_fake/requests" and method == "GET":
            return await _respond(send, 200, {"content-type": "application/json"}, wire._json(self.requests()))
        if path == "/_fake/requests" and method == "DELETE":
            self.clear()
            return await _respond(send, 204, {}, b"")
        if path == "/_fake/failing-model-lists" and method == "POST":
            with self._lock:
                self.failing_model_lists = set(payload or [])
            return await _respond(send, 204, {}, b"")
        return await _respond(send, 404, {"content-type": "application/json"}, b'{"error":"not found"}')

    async def _route(self, method, path, query, headers, payload, record, receive, send):
        if path in DEEPGRAM_GRANT and method == "POST":
            return await self._deepgram_grant(headers, payload, send)
        if path == "/anthropic/v1/messages" and method == "POST":
            return await self._chat("anthropic_messages", "anthropic", headers.get("x-api-key", ""),
                                    (payload or {}).get("model", ""), payload, record, receive, send)
        if path == "/anthropic/v1/models" and method == "GET":
            return await self._models("anthropic_messages", "anthropic", headers.get("x-api-key", ""), query, send)
        if match := GEMINI_STREAM.match(path):
            key = headers.get("x-goog-api-key") or query.get("key", [""])[0]
            return await self._chat("gemini_generate", "gemini", key, match["model"], payload, record, receive, send)
        if path == "/gemini/v1beta/models" and method == "GET":
            key = headers.get("x-goog-api-key") or query.get("key", [""])[0]
            return await self._models("gemini_generate", "gemini", key, query, send)
        if match := OPENAI_PATH.match(path):
            slug, rest = match["slug"], match["rest"]
            key = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if rest == "chat/completions" and method == "POST":
                return await self._chat("openai_chat", slug, key, (payload or {}).get("model", ""), payload,
                                        record, receive, send)
            if rest == "models" and method == "GET":
                return await self._models("openai_chat", slug, key, query, send)
            if rest == "key" and method == "GET":
                if key == "bad-key" or not key:
                    return await self._refuse("openai_chat", slug, "badkey", key, send)
                return await _respond(send, 200, {"content-type": "application/json"}, wire._json(
                    {"data": {"label": "fake key", "usage": 0, "limit": None, "is_free_tier": False}}))
        if IMAGE_PATH.match(path) and method == "GET":
            return await _respond(send, 200, {"content-type": "image/png"}, IMAGE)
        return await _respond(send, 404, {"content-type": "application/json"},
                              b'{"error":{"message":"Not found","code":404}}')

    async def _deepgram_grant(self, headers, payload, send):
        """Deepgram's token grant: `Authorization: Token <key>`; the key `bad-key` (or none) is refused."""
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme != "Token" or not key.strip() or key.strip() == "bad-key":
            return await _respond(send, 401, {"content-type": "application/json"}, wire._json(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "fake-request"}))
        ttl = (payload or {}).get("ttl_seconds", 30)
        token = f"fake-dg-{secrets.token_hex(16)}"
        with self._lock:
            self.deepgram_tokens.add(token)
        return await _respond(send, 200, {"content-type": "application/json"},
                              wire._json({"access_token": token, "expires_in": ttl}))

    async def _listen(self, scope, receive, send):
        """Deepgram's live socket: a token it granted, offered as `Sec-WebSocket-Protocol: bearer, <token>`;
        once audio arrives it answers with an interim and a final transcript."""
        # Some servers pass the header's comma-separated list as one item: split it either way.
        offered = [p.strip() for item in scope.get("subprotocols") or () for p in item.split(",") if p.strip()]
        if (await receive())["type"] != "websocket.connect":
            return
        token = offered[1] if len(offered) == 2 and offered[0] == "bearer" else ""
        with self._lock:
            known = token in self.deepgram_tokens
            self.recorded.append({"method": "WEBSOCKET", "path": scope["path"], "query": scope.get(
                "query_string", b"").decode(), "headers": {}, "json": None, "subprotocols": offered, "at": time.time()})
        if scope["path"] not in DEEPGRAM_LISTEN or not known:
            return await send({"type": "websocket.close", "code": 1008})
        await send({"type": "websocket.accept", "subprotocol": "bearer"})
        answered = False
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") and not answered:
                answered = True
                for words, final in (("hello", False), ("hello from the fake microphone", True)):
                    await send({"type": "websocket.send", "text": wire._json({
                        "type": "Results", "is_final": final, "speech_final": final,
                        "channel": {"alternatives": [{"transcript": words, "confidence": 0.99}]}}).decode()})
            elif message.get("text") and '"CloseStream"' in message["text"]:
                return await send({"type": "websocket.close", "code": 1000})

    async def _refuse(self, protocol, slug, kind, key, send):
        status, headers, body = wire.error_response(protocol, slug, kind, key)
        return await _respond(send, status, headers, body)

    async def _models(self, protocol, slug, key, query, send):
        if key == "bad-key":
            return await self._refuse(protocol, slug, "badkey", key, send)
        if slug in self.failing_model_lists:
            return await self._refuse(protocol, slug, "notjson", key, send)
        return await _respond(send, 200, {"content-type": "application/json"},
                              wire._json(wire.models_page(protocol, slug, query, key=key)))

    async def _chat(self, protocol, slug, key, model, payload, record, receive, send):
        payload = payload or {}
        try:
            record["attachments"] = parts.found(protocol, payload)
        except parts.PartError as exc:
            record["attachments"] = []
            return await _respond(send, *wire.invalid_request(protocol, slug, str(exc)))
        last_user, prompt_tokens = _prompt(protocol, payload)
        fingerprint = hashlib.sha256(wire._json([slug, model, payload.get("messages") or payload.get("contents")]))
        with self._lock:
            seen = fingerprint.hexdigest() in self.seen_prompts
            self.seen_prompts.add(fingerprint.hexdigest())
        behaviour = behaviour_name(slug, model)
        if behaviour in TOOL_MODELS:
            user_text, results = _since_user(protocol, payload)
            plan = tool_plan(behaviour, last_user_text=user_text, offered=_offered(protocol, payload),
                             results=results)
        else:
            plan = plan_for(behaviour, last_user_text=last_user, seen_before=seen,
                            attachments=record["attachments"], tool_result=_tool_result(protocol, payload))
        if key == "bad-key":
            plan.error = "badkey"
        if plan.first_delay:
            await asyncio.sleep(plan.first_delay)
        if plan.error:
            return await self._refuse(protocol, slug, plan.error, key, send)
        if protocol == "anthropic_messages":
            writes = wire.anthropic_stream(plan, model=model, prompt_tokens=prompt_tokens)
        elif protocol == "gemini_generate":
            writes = wire.gemini_stream(plan, model=model, prompt_tokens=prompt_tokens)
        else:
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            writes = wire.openai_stream(plan, slug=slug, model=model, include_usage=include_usage,
                                        prompt_tokens=prompt_tokens)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]})
        disconnected = asyncio.Event()

        async def watch():
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()

        watcher = asyncio.create_task(watch())
        try:
            for item in writes:
                if disconnected.is_set():
                    break
                if isinstance(item, float):
                    try:
                        await asyncio.wait_for(disconnected.wait(), item)
                    except TimeoutError:
                        pass
                    continue
                if plan.split_utf8:
                    for part in _split_mid_character(item):
                        await send({"type": "http.response.body", "body": part, "more_body": True})
                        await asyncio.sleep(0.005)  # separate TCP writes, so the client reads them apart
                else:
                    await send({"type": "http.response.body", "body": item, "more_body": True})
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                # Give a client that closes right after the end a moment to be noticed.
        finally:
            watcher.cancel()
            record["disconnected"] = disconnected.is_set()
            record["completed_at"] = time.time()


def _prompt(protocol: str, payload: dict) -> tuple[str, int]:
    """The last user text (attachments' text parts left out) and a word count standing in for prompt tokens."""
    texts = []
    if protocol == "gemini_generate":
        for content in payload.get("contents") or []:
            texts.append((content.get("role", "user"), _own_text(content.get("parts"))))
    else:
        for message in payload.get("messages") or []:
            content = message.get("content")
            if isinstance(content, list):
                content = _own_text(content)
            texts.append((message.get("role", "user"), content or ""))
    last_user = next((text for role, text in reversed(texts) if role == "user"), "")
    words = sum(len(text.split()) for _, text in texts)
    return last_user, max(1, words)


def _tool_result(protocol: str, payload: dict) -> str | None:
    """The content of the last tool result in the request (each protocol's form), or None when there is none."""
    found = None
    if protocol == "gemini_generate":
        for content in payload.get("contents") or []:
            for part in content.get("parts") or []:
                if isinstance(part, dict) and "functionResponse" in part:
                    found = str((part["functionResponse"].get("response") or {}).get("content", ""))
        return found
    for message in payload.get("messages") or []:
        if message.get("role") == "tool":
            found = str(message.get("content") or "")
        elif isinstance(message.get("content"), list):
            for block in message["content"]:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    content = block.get("content")
                    found = content if isinstance(content, str) else json.dumps(content)
    return found


def _offered(protocol: str, payload: dict) -> list[str]:
    """The names of the tools the request offers, in each protocol's form."""
    tools = payload.get("tools") or []
    if protocol == "gemini_generate":
        return [d.get("name", "") for group in tools for d in group.get("functionDeclarations") or ()]
    if protocol == "anthropic_messages":
        return [tool.get("name", "") for tool in tools]
    return [(tool.get("function") or {}).get("name", "") for tool in tools]


def _since_user(protocol: str, payload: dict) -> tuple[str, list[str]]:
    """The last text the user wrote, and the tool results sent back since (each protocol's form)."""
    text, results = "", []
    if protocol == "gemini_generate":
        for content in payload.get("contents") or []:
            if content.get("role") != "user":
                continue
            for part in content.get("parts") or []:
                if "functionResponse" in part:
                    response = part["functionResponse"].get("response") or {}
                    results.append(str(response.get("content", response.get("error", ""))))
                elif "text" in part:
                    text, results = part["text"], []
        return text, results
    for message in payload.get("messages") or []:
        content = message.get("content")
        if message.get("role") == "tool":
            results.append(str(content or ""))
        elif message.get("role") == "user" and isinstance(content, str):
            text, results = content, []
        elif message.get("role") == "user" and isinstance(content, list):
            for block in content:
                if block.get("type") == "tool_result":
                    found = block.get("content")
                    results.append(found if isinstance(found, str) else json.dumps(found))
                elif block.get("type") == "text":
                    text, results = block.get("text", ""), []
    return text, results


def _own_text(blocks) -> str:
    texts = (block.get("text") for block in blocks or () if isinstance(block, dict))
    return " ".join(text for text in texts if isinstance(text, str) and not parts.attachment_heading(text))


def _split_mid_character(data: bytes) -> list[bytes]:
    for index, byte in enumerate(data):
        if byte >= 0xC0:  # the lead byte of a multi-byte character: cut right after it
            return [data[:index + 1], data[index + 1:]]
    return [data]


async def _respond(send, status: int, headers: dict, body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class FakeProviderServer:
    """Runs the fake on loopback in a background thread (port 0 = a free port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.app = FakeProviderApp()
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def requests(self) -> list[dict]:
        return self.app.requests()

    def clear(self) -> None:
        self.app.clear()

    def fail_model_lists(self, *slugs: str) -> None:
        with self.app._lock:
            self.app.failing_model_lists = set(slugs)

    def start(self) -> "FakeProviderServer":
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="off",
                                ws="websockets-sansio", access_log=False, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("The fake provider server did not start.")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
