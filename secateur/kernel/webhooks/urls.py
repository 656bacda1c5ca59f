"""The SSRF guard: a webhook URL must be http(s) and resolve only to public addresses, unless allowed."""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """A webhook URL that is malformed, does not resolve, or points at an address we refuse."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where it says to go and the addresses its host resolved to just now."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _parse(url: str) -> tuple[str, str, int]:
    """Scheme, host and port of an absolute http(s) URL; UnsafeUrl saying what is wrong otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise UnsafeUrl(f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL must not carry a user name or password; the signature authenticates us")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"{url!r} has an invalid port") from exc
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refusal(address: IPAddress) -> str | None:
    """Why an address is no place to send a webhook (loopback, private, ...), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    # Most specific first: a loopback address is also "private" to the ipaddress module.
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),  # e.g. the carrier-grade NAT range 100.64.0.0/10
    )
    return next((name for name, flag in kinds if flag), None)


def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address the host resolves to, in resolver order; UnsafeUrl when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UnsafeUrl(f"the host {host!r} does not resolve ({reason})") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def check_url(url: str, allow_private: bool) -> Target:
    """Parse and resolve `url`, refusing non-public addresses unless `allow_private`.

    Every resolved address is checked, not just the first: a host with one public and one private
    record could otherwise be steered to the private one.
    """
    scheme, host, port = _parse(url)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            kind = refusal(address)
            if kind is not None:
                raise UnsafeUrl(
                    f"the host {host!r} resolves to {address}, a {kind} address; webhooks are only sent "
                    "to public addresses (an operator can set SECATEUR_WEBHOOK_ALLOW_PRIVATE=true)"
                )
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, addresses=addresses)
