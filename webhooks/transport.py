"""Signing and sending one webhook request: the receiver's address checked and pinned, no redirects, short
timeouts. Needs no Django."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

USER_AGENT = "CSP-Partner-Portal-Webhooks/1"
RESPONSE_KEPT = 2000  # bytes of the receiver's answer kept for the delivery log


class Refused(Exception):
    """The receiver's address may not be reached (private, loopback, …) or the URL cannot be used."""


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Portal-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def refusal(address: str) -> str | None:
    """Why an IP address may not receive webhooks (private, loopback, link-local, …), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_private:
        return "private address"
    if ip.is_unspecified or ip.is_reserved or not ip.is_global:
        return "reserved address"
    return None


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to: every address the host resolves to must be allowed, and the first one is
    the one used (so a second lookup cannot swap in another: DNS rebinding)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"cannot resolve {host}: {error}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Refused(f"cannot resolve {host}")
    if not allow_private:
        for address in addresses:
            if why := refusal(address):
                raise Refused(f"{host} resolves to {address}, a {why}")
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse at once what no delivery could use: another scheme, plain http (unless private hosts are
    allowed), credentials in the URL, or a literal private address or localhost."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused("use an https:// URL")
    if parts.scheme == "http" and not allow_private:
        raise Refused("use an https:// URL")
    if parts.username or parts.password:
        raise Refused("a URL with a user name or password")
    if allow_private:
        return
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        raise Refused("localhost")
    try:
        why = refusal(host)
    except ValueError:
        return  # a name: checked when it is resolved, at each delivery
    if why:
        raise Refused(f"a {why}")


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Answer:
    """POST body to url on the checked, pinned address; follows no redirect. Raises Refused, or urllib3's
    errors for what the network does."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    if not host or parts.scheme not in ("https", "http") or (not https and not allow_private):
        raise Refused("use an https:// URL")
    port = parts.port or (443 if https else 80)
    address = resolve(host, port, allow_private=allow_private)
    default_port = (https and port == 443) or (not https and port == 80)
    host_header = host if ":" not in host else f"[{host}]"
    request_headers = {
        **headers,
        "Host": host_header if default_port else f"{host_header}:{port}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    options: dict = {}
    if https:
        # The certificate is checked against the URL's host name, not the address connected to.
        options = {"server_hostname": host, "assert_hostname": host, "cert_reqs": "CERT_REQUIRED"}
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    pool = pool_class(
        address,
        port,
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
        maxsize=1,
        **options,
    )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    try:
        response = pool.urlopen(
            "POST",
            path,
            body=body,
            headers=request_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            text = response.read(RESPONSE_KEPT, decode_content=False).decode("utf-8", "replace")
        finally:
            response.release_conn()
            response.close()
        return Answer(status=response.status, text=text)
    finally:
        pool.close()
