"""Fetching what a marketer's URL names without becoming a window into the machine's own network.

A URL in a table row is input anyone with INSERT rights controls. Left alone, a download would reach
``127.0.0.1``, the cloud metadata address, the database port or the daemon's own ``/status`` (and every
spelling of them: ``2130706433``, ``0x7f.0.0.1``, ``127.1``, ``[::ffff:127.0.0.1]``, a name that resolves
there, a redirect that points there).

So the check happens where the connection is made, not on the URL's text: ``PublicOnlyBackend`` is the
connection backend of the download client (httpcore's own socket backend, with one change). It resolves
the host once, keeps only addresses that are public (``AddressPolicy``), and connects to that very address;
TLS still verifies the certificate against the host name. A name that resolves to a private address is
refused, and since nothing is resolved twice, a resolver that answers differently the second time
(DNS rebinding) has nothing to slip past. Every redirect is a new connection, checked the same way.

Nothing is contacted for a refused address, so the answer is the same whatever listens there: the
download cannot be used to scan ports. ``POSTPILOT_FETCH_ALLOW_NETWORKS`` names networks to allow anyway
(an intranet image server, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class NotPublicAddress(Exception):
    """The URL's host is, or resolves to, an address postpilot does not fetch from."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    allowed: tuple[Network, ...] = ()

    @classmethod
    def from_setting(cls, networks: Iterable[str]) -> AddressPolicy:
        """``networks``: CIDRs such as ``10.20.0.0/16`` or single addresses; ValueError on a bad one."""
        return cls(tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip()))

    def permits(self, address: Address) -> bool:
        if any(address in network for network in self.allowed):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            mapped = address.ipv4_mapped or address.sixtofour
            if mapped is not None:
                return self.permits(mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
        # ``is_global`` is False for loopback, private, link-local, unique-local, unspecified, reserved and
        # shared (CGNAT) space; multicast can be "global" and is never an image server.
        return address.is_global and not address.is_multicast


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (literal forms like ``127.1`` included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class PublicOnlyBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy permits (see the module doc)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            candidates = self._resolve(host.strip("[]"), port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve the host: {exc}") from exc
        permitted = [a for a in candidates if self._policy.permits(ipaddress.ip_address(a.split("%", 1)[0]))]
        if not permitted or len(permitted) != len(candidates):
            # A name that resolves to any internal address is refused as a whole: mixing answers is a trick.
            raise NotPublicAddress(host)
        return super().connect_tcp(permitted[0], port, timeout, local_address, socket_options)


def public_only_client(
    *,
    timeout: httpx.Timeout,
    max_redirects: int,
    allow_networks: Sequence[str] = (),
    resolve: Resolver = system_resolver,
) -> httpx.Client:
    """An httpx client for marketers' URLs: every connection goes through ``PublicOnlyBackend``. Redirects
    are followed by the caller (``media.fetch``), each one a new checked connection; no proxy from the
    environment, so nothing routes around the check."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx builds its httpcore pool without a way to pass a network backend: set the pool's backend, the
    # one thing changed, right after construction and before any connection exists.
    pool = transport._pool
    if not isinstance(pool, httpcore.ConnectionPool):  # pragma: no cover - httpx internals changed
        raise RuntimeError("unexpected httpx transport internals; cannot guard downloads")
    pool._network_backend = PublicOnlyBackend(AddressPolicy.from_setting(allow_networks), resolve)
    return httpx.Client(transport=transport, timeout=timeout, trust_env=False, max_redirects=max_redirects)
