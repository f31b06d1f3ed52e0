"""Origin allowlists: exact origins, bare hosts and ``*.example.com`` wildcards."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(origin: str) -> tuple[str | None, str, int | None]:
    """``https://App.example.com:8443`` -> ``("https", "app.example.com", 8443)``."""
    if "://" not in origin:
        host, _sep, port = origin.partition(":")
        return None, host.lower(), int(port) if port else None
    parts = urlsplit(origin)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


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
        if re.search(r"\s", entry):
            errors.append(entry)
            continue
        try:
            scheme, host, _port = _split(entry)
        except ValueError:
            errors.append(entry)
            continue
        if (
            scheme not in (None, "http", "https")
            or not _HOST_RE.match(host)
            or ("://" in entry and urlsplit(entry).path not in ("", "/"))
        ):
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


def origin_allowed(origin: str, allowlist: Sequence[str]) -> bool:
    """Whether a browser's ``Origin`` header matches an allowlist; an empty list allows any."""
    if not allowlist or "*" in allowlist:
        return True
    try:
        scheme, host, port = _split(origin)
    except ValueError:
        return False
    if scheme not in ("http", "https") or not host:
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
