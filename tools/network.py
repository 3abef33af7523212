"""The SSRF guard on every MCP connection of a non-admin's server (the SDK's HTTP client is httpx2/httpcore2).

Each host is resolved here, refused if any address is loopback, private or link-local, and connected to by the
checked address, so a name cannot resolve one way when saved and another when connected (DNS rebinding).
"""
import asyncio
import socket

import httpcore2
import httpx2


class BlockedAddress(httpcore2.ConnectError):
    pass


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ASYNC109
        from providers.transport import address_blocked

        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from None
        addresses = [info[4][0] for info in infos]
        if not addresses or any(address_blocked(address) for address in addresses):
            raise BlockedAddress("This server resolves to a private, loopback or link-local address; refused.")
        return await self._inner.connect_tcp(addresses[0], port, timeout=timeout, local_address=local_address,
                                             socket_options=socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ASYNC109
        raise BlockedAddress("Unix sockets are not allowed.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx2 does not take a network backend, so its pool is rebuilt with the guarded one.
        self._pool = httpcore2.AsyncConnectionPool(ssl_context=self._pool._ssl_context, http1=True, http2=False,
                                                   network_backend=GuardedBackend())
