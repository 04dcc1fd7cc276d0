"""Guards for the outbound HTTP of hosted plugins: which URLs they may call, and where they connect.

A hosted plugin talks to hosts named by configuration and by the provider's answers. Neither
source may steer a worker at an arbitrary host or at the private network behind it:

- ``check_url`` allows a URL only when its scheme, host and port match an operator rule
  (``[http://]host[:port]``, https and the scheme's default port unless the rule says
  otherwise). URLs are parsed strictly, so that no parser disagreement between this check and
  urllib3 (backslashes, userinfo, numeric host forms) can make them mean different hosts.
- ``PublicAddressAdapter`` resolves a host once, refuses it when any address it resolves to is
  not a global unicast address (private, loopback, link-local, shared, reserved, multicast),
  and connects the socket to exactly the addresses it checked.

Reading a body within a byte limit is ``hallmark.sdk.hosted.read_capped``.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# Anything urllib3 and urllib.parse might read differently, or that no URL needs.
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class AddressRefused(Exception):
    """A host resolved to an address outside the public internet.

    Deliberately not an ``OSError``: urllib3 and requests let it through unwrapped and
    unretried, so the plugin can fail the job with this exact reason.
    """


@dataclass(frozen=True)
class HostRule:
    """One operator entry: ``scheme://host:port``; ``host`` may hold ``*`` globs (host names only)."""

    scheme: str
    host: str
    port: int

    def matches(self, scheme: str, host: str, port: int, *, globs: bool) -> bool:
        """Whether a URL's scheme, host and effective port fall under this rule."""
        if scheme != self.scheme or port != self.port:
            return False
        if globs and "*" in self.host and _ip(host) is None:
            return fnmatch.fnmatchcase(host, self.host)
        return host == self.host


def parse_rules(entries: str | Iterable[str]) -> tuple[list[HostRule], list[str]]:
    """Operator entries (a comma-separated string or a list) as rules, and the entries refused.

    An entry is ``host``, ``host:port``, or either behind ``http://`` or ``https://``; without a
    scheme it means https. A refused entry allows nothing (fail closed); callers report it.
    """
    items = entries.split(",") if isinstance(entries, str) else list(entries)
    rules: list[HostRule] = []
    bad: list[str] = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        text = item.lower()
        scheme = "https"
        if "://" in text:
            scheme, _, text = text.partition("://")
        try:
            parts = urlsplit(f"//{text.rstrip('/')}")
            port = parts.port
        except ValueError:
            bad.append(item)
            continue
        host = parts.hostname or ""
        wildcard_ok = host.startswith("*.") and _host_name_ok(host[2:])
        if (
            scheme not in DEFAULT_PORTS
            or parts.username is not None
            or parts.path
            or port == 0
            or not (wildcard_ok or _host_name_ok(host) or _ip(host) is not None)
        ):
            bad.append(item)
            continue
        canonical = str(_ip(host)) if _ip(host) is not None else host
        rules.append(HostRule(scheme, canonical, port or DEFAULT_PORTS[scheme]))
    return rules, bad


def describe(rules: Sequence[HostRule]) -> str:
    """The rules as an operator would write them (for messages that say what is allowed)."""
    shown = []
    for rule in rules:
        host = f"[{rule.host}]" if ":" in rule.host else rule.host
        text = host if rule.port == DEFAULT_PORTS[rule.scheme] else f"{host}:{rule.port}"
        shown.append(text if rule.scheme == "https" else f"{rule.scheme}://{text}")
    return ", ".join(shown) or "nothing"


def check_url(
    url: str, rules: Sequence[HostRule], *, setting: str, globs: bool = False
) -> tuple[SplitResult | None, str]:
    """Parse ``url`` strictly and match it against ``rules``.

    Returns the parsed URL and "" when allowed, or None and the reason for the user (naming
    ``setting``, the operator variable that allows more) when not.
    """
    if not isinstance(url, str) or _UNSAFE_URL_CHARS.search(url) or not url.isascii():
        return None, "is not a valid URL."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None, "is not a valid URL."
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        return None, "must be an https URL."
    if "@" in parts.netloc:
        return None, "must not contain credentials (user:password@)."
    host = (parts.hostname or "").lower()
    address = _ip(host)
    if port == 0:
        return None, "has an invalid port."
    if address is None and not _host_name_ok(host):
        return None, "has no valid host name."
    # The netloc must be exactly host[:port]: nothing else that another parser could read.
    shown_host = f"[{host}]" if address is not None and address.version == 6 else host
    if parts.netloc.lower() not in (shown_host, f"{shown_host}:{port}"):
        return None, "is not a valid URL."
    effective = port or DEFAULT_PORTS[scheme]
    canonical = str(address) if address is not None else host
    if any(rule.matches(scheme, canonical, effective, globs=globs) for rule in rules):
        return parts, ""
    origin = f"{scheme}://{shown_host}" + (f":{port}" if port else "")
    if scheme == "http":
        return None, (
            f"uses plain http ({origin}), which is refused; the operator can allow it only "
            f"by listing http://host:port in {setting} (now: {describe(rules)})."
        )
    kind = "an IP address, which is refused unless listed" if address is not None else "not an allowed host"
    return None, (
        f"{origin} is {kind}; the operator allows more hosts with {setting} (now: {describe(rules)})."
    )


def is_public_address(text: str) -> bool:
    """Whether an address (as getaddrinfo gives it) is a global unicast internet address."""
    address = _ip(text.split("%", 1)[0])
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach it: judge the address they carry.
        embedded = address.ipv4_mapped or address.sixtofour or _nat64_embedded(address)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


# The NAT64 prefixes (RFC 6052's well-known one and RFC 8215's local-use one): a gateway turns
# 64:ff9b::a9fe:a9fe into a connection to 169.254.169.254.
_NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _nat64_embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in prefix for prefix in _NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` results for ``host``, or ``AddressRefused`` if any is not public.

    All results are refused when one is private: a name that resolves to both kinds is either
    misconfigured or an attempt to make the connection land on the private one.
    """
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not allow_private:
        for info in infos:
            address = str(info[4][0])
            if not is_public_address(address):
                raise AddressRefused(f"{host} resolves to {address}, which is not a public internet address")
    return infos


class _GuardedConnectionMixin:
    """Makes urllib3 open its socket through ``resolve_checked``.

    Why resolve here rather than check the URL's host beforehand: a name checked first and
    resolved again when connecting can answer differently the second time (DNS rebinding).
    Here one resolution both decides and is used, and the socket connects to those very
    addresses, so nothing the name answers later matters. (Checking ``getpeername()`` after
    connecting would also be sound, but the TCP handshake, and for https the TLS hello, would
    already have reached the private address.) TLS still verifies the certificate against the
    host name, since urllib3 wraps the socket this returns.
    """

    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    allow_private: Callable[[], bool]

    def _new_conn(self) -> socket.socket:
        try:
            infos = resolve_checked(self.host, self.port, allow_private=type(self).allow_private())
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(self.timeout, int | float):
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as exc:  # as urllib3 does: try the next address, report the last error
                sock.close()
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from error
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {error or 'no address'}",
        )


class PublicAddressAdapter(HTTPAdapter):
    """A requests adapter whose connections reach public internet addresses only.

    ``allow_private`` is asked at every new connection (an operator switch, for a local test
    double or an internal mirror). Use it on a session with ``trust_env = False``: through an
    environment proxy the socket would reach the proxy and the check would mean nothing.
    """

    def __init__(self, allow_private: Callable[[], bool], **kwargs: Any) -> None:
        self._allow_private = allow_private  # read by init_poolmanager, which __init__ calls
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The usual pool manager, with pools whose connections open guarded sockets."""
        super().init_poolmanager(*args, **kwargs)
        guard = {"allow_private": staticmethod(self._allow_private)}
        http_conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), guard)
        https_conn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), guard)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: through a proxy the address check would test the proxy, not the host."""
        raise AddressRefused("a proxy was configured for a connection that must go direct")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _host_name_ok(host: str) -> bool:
    """A plain DNS name: letters, digits and dashes in dotted labels, not all-numeric at the end.

    The last rule refuses forms such as ``127.1`` or ``2130706433`` that resolvers read as IP
    addresses although ``ipaddress`` does not.
    """
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return False
    last = labels[-1]
    return not (last.isdigit() or last.startswith("0x"))
