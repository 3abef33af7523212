"""HTTP to providers: one pooled client per event loop, address guard for user endpoints, timeouts, retries."""
import asyncio
import contextlib
import contextvars
import ipaddress
import logging
import socket
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpcore
import httpx
from django.conf import settings

from providers import errors
from providers.base import Route
from providers.events import EventKind, StreamEvent
from providers.network import AsyncioBackend
from providers.sse import SSEDecoder

logger = logging.getLogger("parley.providers")


@dataclass(slots=True)
class HttpCall:
    """One HTTP request to a provider, as an adapter builds it."""

    method: str
    url: str
    headers: dict = field(default_factory=dict, repr=False)
    json: dict | None = None


def setting(name: str, default):
    return getattr(settings, name, default)


# --- addresses a user's endpoint may not reach ------------------------------------------------------

# NAT64 for local use (RFC 8215): translates to whatever the site routes, so never a user's target.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_WELL_KNOWN_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through: mapped, compatible, translated, NAT64, 6to4, Teredo."""
    value = int(address)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    embedded = []
    if address.ipv4_mapped:
        embedded.append(address.ipv4_mapped)
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        embedded.append(low)
    if value >> 32 == 0xFFFF0000:  # IPv4-translated ::ffff:0:a.b.c.d (SIIT)
        embedded.append(low)
    if address in _WELL_KNOWN_NAT64:
        embedded.append(low)
    if address.sixtofour:
        embedded.append(address.sixtofour)
    if address.teredo:
        embedded.extend(address.teredo)
    return embedded


def address_blocked(ip: str) -> bool:
    """Loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved: anything not global.

    An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by that too.
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return True
        candidates += _embedded_ipv4(address)
    return any(not candidate.is_global or candidate.is_multicast for candidate in candidates)


def check_host_allowed(host: str, port: int = 443) -> None:
    """Resolve `host` now and refuse it if any address is blocked (used when a user saves an endpoint)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise errors.BlockedEndpoint(f"The host {host!r} does not resolve.")
    for info in infos:
        if address_blocked(info[4][0]):
            raise errors.BlockedEndpoint(
                "This address is on a private, loopback or link-local network; only an admin may add such endpoints."
            )


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself, refuses blocked addresses, then connects to the checked address.

    Every connection goes through here (redirects included), and connecting to the address that was
    checked, not the name, leaves no room for DNS rebinding between check and connect.
    """

    def __init__(self) -> None:
        self._inner = AsyncioBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ASYNC109
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(str(exc))
        addresses = [info[4][0] for info in infos]
        if not addresses or any(address_blocked(address) for address in addresses):
            raise errors.BlockedEndpoint("This endpoint resolves to a private or loopback address; refused.")
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ASYNC109
        raise errors.BlockedEndpoint("Unix sockets are not allowed for user endpoints.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class AsyncioTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over providers.network (asyncio streams, no anyio cancel scope per read)."""

    network_backend = AsyncioBackend

    def __init__(self, *, limits: httpx.Limits, **kwargs) -> None:
        super().__init__(limits=limits, **kwargs)
        # httpx does not expose httpcore's network_backend, so rebuild its pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            http1=True, http2=False, network_backend=self.network_backend(),
        )


class GuardedTransport(AsyncioTransport):
    network_backend = GuardedNetworkBackend


# --- one pooled client per event loop ----------------------------------------------------------------

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx.AsyncClient]]" = (
    weakref.WeakKeyDictionary()
)


def _timeout() -> httpx.Timeout:
    connect = float(setting("PARLEY_PROVIDER_CONNECT_TIMEOUT", 10.0))
    return httpx.Timeout(connect=connect, read=float(setting("PARLEY_PROVIDER_IDLE_TIMEOUT", 300.0)),
                         write=30.0, pool=connect)


# Inside `scoped_clients()`, clients are private to that block and closed at its end: for one-off calls
# from sync code (async_to_sync may run them on a short-lived loop that would otherwise leak sockets).
_scoped: contextvars.ContextVar[dict | None] = contextvars.ContextVar("parley_scoped_clients", default=None)


@contextlib.asynccontextmanager
async def scoped_clients():
    clients: dict = {}
    token = _scoped.set(clients)
    try:
        yield
    finally:
        _scoped.reset(token)
        for client in clients.values():
            await client.aclose()


async def run_scoped(function, *args):
    """Await `function(*args)` with private clients (see scoped_clients)."""
    async with scoped_clients():
        return await function(*args)


def get_client(*, guarded: bool = False) -> httpx.AsyncClient:
    """The shared keep-alive client of the running loop; `guarded` for users' own endpoints."""
    scoped = _scoped.get()
    per_loop = scoped if scoped is not None else _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(guarded)
    if client is None or client.is_closed:
        # Every streaming reply holds one upstream connection: the pool must fit the concurrent replies.
        limits = httpx.Limits(max_connections=int(setting("PARLEY_PROVIDER_MAX_CONNECTIONS", 1000)),
                              max_keepalive_connections=40, keepalive_expiry=60)
        if guarded:
            client = httpx.AsyncClient(transport=GuardedTransport(limits=limits), timeout=_timeout(),
                                       follow_redirects=False, trust_env=False)
        else:
            client = httpx.AsyncClient(transport=AsyncioTransport(limits=limits), timeout=_timeout(),
                                       follow_redirects=False)
        per_loop[guarded] = client
    return client


async def close_clients() -> None:
    """Close the running loop's clients (tests and shutdown)."""
    per_loop = _clients.pop(asyncio.get_running_loop(), {})
    for client in per_loop.values():
        await client.aclose()


# --- sending, with retries before the first event ---------------------------------------------------

async def send(route: Route, call: HttpCall, *, stream: bool) -> httpx.Response:
    """Send and return the response with status < 400 (body unread when streaming); map failures."""
    client = get_client(guarded=route.user_endpoint)
    request = client.build_request(call.method, call.url, headers=call.headers, json=call.json)
    try:
        async with asyncio.timeout(float(setting("PARLEY_PROVIDER_FIRST_BYTE_TIMEOUT", 120.0))):
            response = await client.send(request, stream=stream)
    except (TimeoutError, httpx.TimeoutException):
        raise errors.ProviderTimeout(f"{_name(route)} did not answer in time.", provider=route.provider)
    except httpx.TransportError as exc:
        logger.info("provider %s unreachable: %s", route.provider, type(exc).__name__)
        raise errors.ProviderUnreachable(f"Could not connect to {_name(route)}.", provider=route.provider)
    if response.status_code >= 300:  # redirects are never followed: one could lead into the private network
        try:
            body = await response.aread()
        except httpx.HTTPError:
            body = b""
        finally:
            await response.aclose()
        from providers.registry import get_adapter

        raise get_adapter(route.protocol).error_from_response(route, response.status_code, body, response.headers)
    return response


async def wait_before_retry(seconds: float) -> None:
    await asyncio.sleep(seconds)


def _retry_delay(exc: errors.ProviderError, attempt: int, waited: float) -> float | None:
    if not exc.retryable or isinstance(exc, errors.StreamTruncated):
        return None
    if attempt >= int(setting("PARLEY_PROVIDER_MAX_RETRIES", 3)):
        return None
    if exc.retry_after is not None:
        delay = max(0.0, exc.retry_after)
    else:
        delay = float(setting("PARLEY_PROVIDER_RETRY_BACKOFF", 0.5)) * (2 ** attempt)
    if waited + delay > float(setting("PARLEY_PROVIDER_RETRY_WAIT_CAP", 4.0)):
        return None
    return delay


async def stream_events(adapter, route: Route, call: HttpCall) -> AsyncIterator[StreamEvent]:
    """Decode and translate one provider stream; retry only while nothing has been yielded."""
    attempt, waited = 0, 0.0
    while True:
        yielded = False
        try:
            response = await send(route, call, stream=True)
            try:
                if response.headers.get("content-type", "").startswith("application/json"):
                    for event in adapter.whole_response(route, await response.aread()):
                        yielded = True
                        yield event
                    return
                translator = adapter.translator(route)
                decoder = SSEDecoder()
                chunks = response.aiter_bytes()
                async for chunk in chunks:
                    for sse in decoder.feed(chunk):
                        for event in translator.feed(sse):
                            if event.kind is EventKind.FINISH:
                                await _drain(chunks)
                            yielded = True
                            yield event
                            if event.kind is EventKind.FINISH:
                                return
                for sse in decoder.flush():
                    for event in translator.feed(sse):
                        yielded = True
                        yield event
                        if event.kind is EventKind.FINISH:
                            return
                for event in translator.close():
                    yielded = True
                    yield event
                    if event.kind is EventKind.FINISH:
                        return
                raise errors.StreamTruncated(provider=route.provider)
            except httpx.TimeoutException:
                raise errors.ProviderTimeout(f"{_name(route)} stopped sending mid-reply.", provider=route.provider)
            except httpx.TransportError:
                raise errors.StreamTruncated(
                    f"The connection to {_name(route)} broke before the reply was complete.", provider=route.provider
                )
            finally:
                await response.aclose()
        except errors.ProviderError as exc:
            delay = None if yielded else _retry_delay(exc, attempt, waited)
            if delay is None:
                raise
            logger.info("provider %s: %s, retrying in %.2fs", route.provider, exc.code, delay)
            await wait_before_retry(delay)
            waited += delay
            attempt += 1


async def _drain(chunks) -> None:
    """Read what follows the end marker (the chunked-encoding terminator, usually already in flight) so
    the connection goes back to the pool for the next reply instead of being closed."""
    try:
        async with asyncio.timeout(0.2):
            async for _ in chunks:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


def _name(route: Route) -> str:
    from providers.registry import get_spec

    spec = get_spec(route.provider)
    return spec.name if spec else route.provider
