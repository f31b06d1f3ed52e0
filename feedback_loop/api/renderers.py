from __future__ import annotations

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer (UTF-8, characters as they are), except for an answer holding a lone
    surrogate, which UTF-8 cannot encode: an error message quoting a ``"\\ud800"`` of the
    request was a 500. That answer is written with ``\\u`` escapes, as the request sent it."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _EscapingJSONRenderer().render(data, accepted_media_type, renderer_context)


class _EscapingJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True
