"""Whether a request comes from the machine the dashboard runs on: the only one an
unconfigured dashboard answers."""

from collections.abc import Mapping
from ipaddress import ip_address

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
# Headers a reverse proxy adds: a request through one comes from elsewhere, even when the
# proxy itself connects over loopback.
FORWARDING_HEADERS = ("x-forwarded-for", "x-forwarded-host", "forwarded", "x-real-ip")


def _host_name(host: str) -> str:
    """The name part of a Host header: `localhost:8501` -> `localhost`, `[::1]:8501` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_local_request(remote_ip: str | None, headers: Mapping[str, str]) -> bool:
    """Whether a browser on this machine opened the app directly: the connection comes from a
    loopback address, the Host header names this machine by a loopback name (so a web page
    elsewhere cannot reach it through a name of its own pointing at 127.0.0.1), and no proxy
    forwarded it."""
    try:
        address = ip_address(remote_ip) if remote_ip is not None else None
    except ValueError:
        return False
    # A dual-stack server sees an IPv4 client as ::ffff:127.0.0.1, which Python 3.11 does not
    # call loopback itself.
    address = getattr(address, "ipv4_mapped", None) or address
    if address is None or not address.is_loopback:
        return False
    lowered = {name.lower(): value for name, value in headers.items()}
    if any(name in lowered for name in FORWARDING_HEADERS):
        return False
    return _host_name(lowered.get("host", "")) in LOOPBACK_NAMES
