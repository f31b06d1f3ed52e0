"""Origin allowlists: exact origins, bare hosts and ``*.example.com`` wildcards."""

from __future__ import annotations

import re
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(origin: str) -> tuple[str | None, str, int | None]:
    """``https://App.example.com:0443`` -> ``("https", "app.example.com", 443)``, or for a bare
    host ``*.example.com`` -> ``(None, "*.example.com", None)``. Raises ValueError for anything
    else: a path, a query, user info, a port out of range, a character no host name has
    (``urlsplit`` lets a backslash, ``%``, ``@`` or a space through, and drops tabs)."""
    head, sep, rest = origin.partition("://")
    scheme: str | None = head.lower() if sep else None
    rest = rest.removesuffix("/") if sep else origin
    host, _sep, port = rest.partition(":")
    # Before lower(), which turns some non-ASCII letters (the Kelvin sign) into ASCII ones.
    if not (host.isascii() and _HOST_RE.fullmatch(host.lower())):
        raise ValueError(f"Not a host name: {host!r}.")
    return scheme, host.lower(), _port(port) if port else _DEFAULT_PORTS.get(scheme or "")


def _port(text: str) -> int:
    """``0443`` -> 443; ValueError for anything but ASCII digits from 1 to 65535."""
    digits = text.lstrip("0")
    if text.isascii() and text.isdigit() and 0 < len(digits) <= 5 and int(digits) <= 65535:
        return int(digits)
    raise ValueError(f"Not a port: {text!r}.")


def parse_allowlist(text: str) -> list[str]:
    """One entry a line (commas and spaces also separate); blank lines are ignored."""
    return [entry for entry in re.split(r"[\s,]+", text or "") if entry]


def validate_allowlist(text: str) -> None:
    errors = []
    # Lines and commas separate entries here: a space inside an entry is a typo, and reading
    # "https://exa mple.com" as the two origins "https://exa" and "mple.com" would allow both.
    for entry in filter(None, (part.strip() for part in re.split(r"[\r\n,]+", text or ""))):
        if entry == "*":
            continue
        try:
            scheme = _split(entry)[0]
        except ValueError:
            errors.append(entry)
            continue
        if scheme not in (None, "http", "https"):
            errors.append(entry)
    if errors:
        raise ValidationError(
            _(
                "Not an origin: %(entries)s. Use one per line, such as https://app.example.com, "
                "https://*.example.com, *.example.com or http://localhost:8000."
            ),
            params={"entries": ", ".join(errors)},
            code="invalid_origin",
        )


def same_origin(origin: str, other: str) -> bool:
    """Whether two ``scheme://host[:port]`` origins are the same one (``:80`` is ``http``'s)."""
    try:
        scheme, host, port = _split(origin)
        return scheme is not None and (scheme, host, port) == _split(other)
    except ValueError:
        return False


def origin_allowed(origin: str, allowlist: Sequence[str]) -> bool:
    """Whether a browser's ``Origin`` header matches an allowlist; an empty list allows any."""
    if not allowlist or "*" in allowlist:
        return True
    try:
        scheme, host, port = _split(origin)
    except ValueError:
        return False
    if scheme not in ("http", "https") or host.startswith("*."):
        return False
    for entry in allowlist:
        try:
            e_scheme, e_host, e_port = _split(entry)
        except ValueError:
            continue
        if e_scheme is not None and e_scheme != scheme:
            continue
        if e_port is not None and e_port != port:
            continue
        if e_port is None and e_scheme is None and port != _DEFAULT_PORTS[scheme]:
            continue
        if e_host.startswith("*."):
            if host.endswith(e_host[1:]) and len(host) > len(e_host) - 1:
                return True
        elif e_host == host:
            return True
    return False
