"""Which webhook target URLs may be called.

A target is refused when its scheme is not http(s) (https only where
``settings.webhook_require_https``), when it carries credentials, or when its host resolves
to any address that is not globally routable: loopback, private, link-local, multicast,
reserved, unspecified, shared (CGNAT) or a cloud metadata address. Entries of
``settings.webhook_allow_private`` (an IP address, a network such as ``10.0.0.0/8``, or a
host name) lift that refusal; tests allow ``127.0.0.1``.

The check runs when a subscription is created or changed, and again right before every
delivery; the delivery then connects to the address that was just checked (see
``pinned_request``), so a name that re-resolves to a private address between the check
and the connection (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from aqcast.service.webhooks import UnsafeURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
AsyncResolver = Callable[[str, int], Awaitable[list[str]]]

# Instance metadata services, refused even where a network around them is allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})

# IPv6 ranges refused outright although older Pythons call them global (IANA IPv6
# Special-Purpose Address Registry; RFC 3879 site-local, RFC 7526 deprecates 6to4, RFC 4380
# Teredo, RFC 6052/8215 translation prefixes, RFC 6666 discard, RFC 3849 documentation).
NON_GLOBAL_V6 = tuple(
    (ipaddress.ip_network(net), reason)
    for net, reason in (
        ("fec0::/10", "a site-local address"),
        ("2002::/16", "a 6to4 address"),
        ("2001::/32", "a Teredo address"),
        ("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address"),
        ("::ffff:0:0:0/96", "an IPv4-translated address"),
        ("100::/64", "a discard-only address"),
        ("2001:db8::/32", "a documentation address"),
        ("fc00::/7", "a unique-local address"),
    )
)
# Prefixes whose last 32 bits are an IPv4 address the packet ends up at: that address is
# checked as well (RFC 4291 IPv4-compatible ::/96, RFC 6052 well-known NAT64 prefix).
EMBEDDING_V6 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("64:ff9b::/96"))


@dataclass(frozen=True)
class CheckedTarget:
    """A URL whose host resolved only to acceptable addresses."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in resolver order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def async_system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _as_ip(value: str) -> IPAddress:
    ip = ipaddress.ip_address(value.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("::ffff:0:0:0/96") or any(ip in n for n in EMBEDDING_V6):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: str) -> str | None:
    """Why ``address`` may not be called, or None for a globally routable address.

    Every address that is not globally routable is refused: Python's ``is_global`` and
    the special-purpose checks below, the IPv6 ranges of ``NON_GLOBAL_V6`` (site-local,
    6to4, Teredo, translated...), and the IPv4 address inside a mapped, compatible or
    translated IPv6 address."""
    ip = _as_ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
            return "an unspecified address" if int(ip) == 0 else "a loopback address"
        for net, reason in NON_GLOBAL_V6:
            if ip in net:
                return reason
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = forbidden_reason(str(inner))
            if why is not None:
                return f"{why} inside an IPv6 address"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for attr, reason in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "an unspecified address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    ):
        if getattr(ip, attr):
            return reason
    if not ip.is_global:
        return "a non-global address"
    return None


def _allowed(address: str, host: str, allow: Iterable[str]) -> bool:
    ip = _as_ip(address)
    if ip in METADATA_ADDRESSES:
        return False
    for entry in allow:
        entry = entry.strip()
        if not entry:
            continue
        if entry.lower() == host.lower():
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry that is not this host
    return False


def parse_target(url: str, *, require_https: bool) -> tuple[str, str, int]:
    """Scheme, host and port of ``url``; UnsafeURLError for a URL not to be called."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"url {url!r}: not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsafeURLError(f"url {url!r}: scheme must be https or http, not {scheme!r}")
    if require_https and scheme != "https":
        raise UnsafeURLError(f"url {url!r}: https is required")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURLError("url: credentials in the URL are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURLError(f"url {url!r}: no host")
    if host.lower() in METADATA_HOSTS:
        raise UnsafeURLError(f"url {url!r}: host {host!r} is a cloud metadata service")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _literal(host: str) -> list[str] | None:
    """``[host]`` when the host is an IP address literal (nothing to resolve), else None."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return None


def _check_addresses(url: str, host: str, addresses: list[str], allow: Iterable[str]) -> None:
    if not addresses:
        raise UnsafeURLError(f"url {url!r}: host {host!r} does not resolve")
    allow = list(allow)
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None and not _allowed(address, host, allow):
            hint = (
                ""
                if _as_ip(address) in METADATA_ADDRESSES
                else f" (to allow it, e.g. to try webhooks on one machine, set "
                f"AQCAST_WEBHOOK_ALLOW_PRIVATE={address})"
            )
            raise UnsafeURLError(
                f"url {url!r}: host {host!r} resolves to {address}, {reason}{hint}"
            )


def check_url(
    url: str,
    *,
    require_https: bool,
    allow_private: Iterable[str] = (),
    resolver: Resolver = system_resolver,
) -> CheckedTarget:
    """Check ``url`` now (blocking DNS); UnsafeURLError names the URL and the reason."""
    scheme, host, port = parse_target(url, require_https=require_https)
    try:
        addresses = _literal(host) or resolver(host, port)
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: e.g. a NUL in the name
        raise UnsafeURLError(f"url {url!r}: host {host!r} does not resolve ({exc})") from exc
    _check_addresses(url, host, addresses, allow_private)
    return CheckedTarget(url, scheme, host, port, tuple(addresses))


async def check_url_async(
    url: str,
    *,
    require_https: bool,
    allow_private: Iterable[str] = (),
    resolver: AsyncResolver = async_system_resolver,
) -> CheckedTarget:
    """As ``check_url``, resolving without blocking the event loop."""
    scheme, host, port = parse_target(url, require_https=require_https)
    try:
        addresses = _literal(host) or await resolver(host, port)
    except (OSError, UnicodeError, ValueError) as exc:  # ValueError: e.g. a NUL in the name
        raise UnsafeURLError(f"url {url!r}: host {host!r} does not resolve ({exc})") from exc
    _check_addresses(url, host, addresses, allow_private)
    return CheckedTarget(url, scheme, host, port, tuple(addresses))


def pinned_request(target: CheckedTarget) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL to connect to (host replaced by the first checked address), the Host header
    and the request extensions (TLS server name = the original host, so certificate
    checks are still made against the name the subscriber gave)."""
    parts = urlsplit(target.url)
    address = target.addresses[0]
    ip_host = f"[{address}]" if ":" in address else address
    default_port = 443 if target.scheme == "https" else 80
    netloc = ip_host if parts.port is None else f"{ip_host}:{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    name = f"[{target.host}]" if ":" in target.host else target.host
    host_header = name if target.port == default_port else f"{name}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url, {"host": host_header}, extensions
