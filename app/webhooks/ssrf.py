"""Which URLs a webhook may call. Endpoint URLs must be https and every address their host
resolves to must be public; this is checked when an endpoint is saved and again before each
delivery, which then connects to the address it checked (not to a second lookup of the name),
so a DNS answer that changes between check and connect (rebinding) reaches nothing private.

Public means: no private or special range, directly or embedded in an IPv6 form that reaches
it (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo, site-local); and the port
is 443 or from 1024 up.

WEBHOOK_ALLOW_PRIVATE_URLS lifts the rule for development and tests (http, loopback, LAN,
any port)."""

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from app.settings import ProviderMode, Settings

# host, port -> the addresses it resolves to (injectable: tests resolve names their way).
Resolver = Callable[[str, int], Awaitable[list[str]]]
MAX_URL_LENGTH = 2000


class UrlNotAllowed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def allow_private_urls(settings: Settings) -> bool:
    """The one place that reads the setting. Unset, it follows the provider mode: allowed
    only in PROVIDER_MODE=sandbox (development and tests)."""
    if settings.webhook_allow_private_urls is not None:
        return settings.webhook_allow_private_urls
    return settings.provider_mode is ProviderMode.SANDBOX


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


# IPv6 forms that carry an IPv4 address in their last 32 bits and reach it (a NAT64
# gateway, an SIIT translator, or a stack that still routes IPv4-compatible addresses): the
# address is as public as the IPv4 address it carries.
_EMBEDS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
)
# IPv6 ranges refused whatever they carry: IPv4-compatible addresses (deprecated, ::/96),
# local-use NAT64 (RFC 8215: the operator picks the embedding, so any IPv4 behind it may be
# private), and site-local (deprecated, still routed inside some networks).
_NEVER = (
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("fec0::/10"),
)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _NEVER):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in net for net in _EMBEDS_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    # is_global is False for private, loopback, link-local (cloud metadata), shared (CGNAT),
    # reserved, documentation and unspecified ranges.
    return ip.is_global and not ip.is_multicast


def port_allowed(port: int) -> bool:
    """Public receivers listen on 443 or an unprivileged port; the ports below 1024 are
    other services' (ssh, smtp, ...), which a webhook has no business reaching."""
    return port == 443 or port >= 1024


_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$",
    re.IGNORECASE,
)


def parse(url: str, *, allow_private: bool) -> tuple[httpx.URL, str]:
    """The URL's shape, and its host in ASCII (IDNA): refuses what no lookup could make
    acceptable."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
        host = parsed.raw_host.decode("ascii")
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:  # IDNA errors are ValueErrors too
        raise UrlNotAllowed(f"The URL is not valid: {exc}.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in schemes:
        raise UrlNotAllowed("The URL must use https.")
    if not host:
        raise UrlNotAllowed("The URL has no host.")
    if _literal(host) is None and not _HOSTNAME.match(host):
        raise UrlNotAllowed(f"The host {host} is not a valid host name.")
    if port is not None and not 0 < port < 65536:
        raise UrlNotAllowed(f"The port {port} is not valid.")
    if port is not None and not allow_private and not port_allowed(port):
        raise UrlNotAllowed(f"The port {port} is not allowed: use 443 or a port from 1024 up.")
    if parsed.userinfo:
        raise UrlNotAllowed("The URL must not carry a user name or password.")
    if parsed.fragment:
        raise UrlNotAllowed("The URL must not have a #fragment.")
    return parsed, host


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@dataclass(frozen=True)
class Target:
    """Where to send: the URL with its host replaced by the checked address, the Host header
    and TLS server name that keep the original name (certificates are verified for it)."""

    url: httpx.URL
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


async def check(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> Target:
    """Raises UrlNotAllowed with a reason a user can act on, or returns where to connect."""
    parsed, host = parse(url, allow_private=allow_private)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError) as exc:
            if allow_private:  # let the client resolve it (a name only a proxy knows)
                return Target(parsed)
            raise UrlNotAllowed(f"The host {host} does not resolve ({exc}).") from None
        if not addresses:
            raise UrlNotAllowed(f"The host {host} does not resolve.")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                where = (
                    f"The host {host} resolves to {address}, which is"
                    if literal is None
                    else f"{address} is"
                )
                raise UrlNotAllowed(f"{where} not a public address.")
    if literal is not None:
        return Target(parsed)
    # IPv4 first: what a dual-stack receiver on 127.0.0.1 / 0.0.0.0 listens on.
    chosen = sorted(addresses, key=lambda a: ":" in a)[0]
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return Target(parsed.copy_with(host=chosen), {"Host": parsed.netloc.decode()}, extensions)
