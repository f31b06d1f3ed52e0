"""``{% load feedback_loop %}``: the widget's script tag and signed trace tokens."""

from __future__ import annotations

import json

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from feedback_loop import widget
from feedback_loop.conf import app_settings
from feedback_loop.tokens import sign_trace

register = template.Library()


def _project(project):

    project = project or app_settings.DEFAULT_PROJECT
    if not project:
        raise ImproperlyConfigured(
            "Pass the project to the tag ({% feedback_loop_script project %}) or set "
            "FEEDBACK_LOOP['DEFAULT_PROJECT'] to its public key."
        )
    from feedback_loop.models import Project

    return Project.objects.resolve(project)


def _error_modes(project) -> str:
    """The reasons a thumbs-down offers, as JSON for ``data-error-modes``: the built-in error
    modes in the order they were created, then the project's own by name."""
    from feedback_loop.models import ErrorMode

    modes = list(ErrorMode.objects.filter(Q(project=None) | Q(project=project)).order_by("pk"))
    builtin = [mode for mode in modes if mode.project_id is None]
    own = sorted((mode for mode in modes if mode.project_id is not None), key=lambda m: m.name)
    return json.dumps([{"id": m.slug, "label": m.name} for m in builtin + own], ensure_ascii=False)


def _server_attributes(project) -> dict[str, object]:
    """What the widget must agree on with this server: its limits, whether the project requires
    trace tokens, and its error modes (the widget's defaults match the server's defaults, so a
    hand-written tag without these works as long as the settings are left alone)."""
    return {
        "max-batch-size": app_settings.MAX_BATCH_SIZE,
        "rating-scale": app_settings.RATING_SCALE,
        "max-comment-chars": app_settings.MAX_COMMENT_CHARS,
        "max-text-chars": app_settings.MAX_TEXT_CHARS,
        "max-reasons": app_settings.MAX_REASONS,
        "require-token": "true" if project.require_token else "false",
        "error-modes": _error_modes(project),
    }


@register.simple_tag(takes_context=True)
def feedback_loop_script(context, project=None, **attrs):
    """The widget's ``<script>`` tag with the endpoint, the public key and the server's limits
    filled in.

    Extra keyword arguments become ``data-*`` attributes: ``{% feedback_loop_script
    toolbar="none" selector=".answer" %}``.
    """
    project = _project(project)
    endpoint = app_settings.ENDPOINT_URL or reverse("feedback_loop:events")
    request = context.get("request")
    if request is not None and endpoint.startswith("/"):
        endpoint = request.build_absolute_uri(endpoint)
    data = {"endpoint": endpoint, "key": project.public_key, **_server_attributes(project)}
    data.update({name.replace("_", "-"): value for name, value in attrs.items()})
    return format_html(
        '<script src="{}" defer{}></script>',
        app_settings.WIDGET_URL or widget.url(),
        format_html_join("", ' data-{}="{}"', data.items()),
    )


@register.simple_tag(takes_context=True)
def feedback_loop_token(context, trace_id, project=None, user_id=None, max_age=None):
    """A signed token for ``trace_id``: ``data-feedback-token="{% feedback_loop_token id %}"``.

    It binds the page's end user: ``user_id`` when given, else the request's signed-in user,
    else its session (an anonymous visitor's feedback then counts once, however many ids the
    browser makes up)."""
    return sign_trace(
        str(trace_id),
        project=_project(project),
        user_id=user_id,
        request=context.get("request"),
        max_age=max_age,
    )
