"""The widget's script, served by the app itself: ``{mount}widget/<version>/widget.js``.

A page needs no static files set-up for it (under gunicorn with ``DEBUG = False`` the static
files app serves nothing), and the URL names the package's version, so browsers and CDNs may
keep it for a year: an upgrade changes the URL. A page asking for another version (an old page
after an upgrade) is sent to this one; ``{mount}widget.js`` is always the current one, cached
for five minutes, for pages that cannot follow versions.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, HttpResponseRedirect
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

import feedback_loop

FILE = Path(__file__).resolve().parent / "static" / "feedback_loop" / "widget.js"
A_YEAR = 365 * 24 * 3600
LATEST_MAX_AGE = 300


@functools.cache
def _script() -> tuple[bytes, str]:
    body = FILE.read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def url() -> str:
    """The path of the current version's script, for a ``<script src>``."""
    return reverse("feedback_loop:widget", kwargs={"version": feedback_loop.__version__})


@require_safe
def versioned(request: HttpRequest, version: str) -> HttpResponse:
    if version != feedback_loop.__version__:
        response: HttpResponse = HttpResponseRedirect(url())
        patch_cache_control(response, public=True, max_age=LATEST_MAX_AGE)
        return response
    return _serve(request, max_age=A_YEAR, immutable=True)


@require_safe
def latest(request: HttpRequest) -> HttpResponse:
    return _serve(request, max_age=LATEST_MAX_AGE)


def _serve(request: HttpRequest, *, max_age: int, immutable: bool = False) -> HttpResponse:
    body, etag = _script()
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = etag
    # Any page may load it, also with crossorigin="anonymous" or under COEP.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["X-Content-Type-Options"] = "nosniff"
    patch_cache_control(response, public=True, max_age=max_age)
    if immutable:
        patch_cache_control(response, immutable=True)
    return response
