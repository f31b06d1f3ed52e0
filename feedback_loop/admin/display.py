"""How the admin draws what traces hold: short texts, the signal icons, links to the events."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from feedback_loop.models import SIGNALS, Trace

# 24x24 icon paths (Material-style), drawn inline so no font or file is needed. "down" is "up"
# turned over by CSS.
ICONS = {
    "up": "M2 21h4V9H2zm21-11a2 2 0 0 0-2-2h-6.3l1-4.9-.4-1.1L14 1 7.6 7.6Q7 8.2 7 9v10a2 2 "
    "0 0 0 2 2h9q1.3 0 1.8-1.2L23 12z",
    "edit": "M3 17.2V21h3.8L17.8 9.9l-3.7-3.7zM20.7 7a1 1 0 0 0 0-1.4l-2.3-2.3a1 1 0 0 0-1.4 "
    "0l-1.8 1.8 3.7 3.7z",
    "regenerate": "M17.6 6.4A8 8 0 1 0 19.7 14h-2.1a6 6 0 1 1-1.4-6.2L13 11h7V4z",
    "copy": "M16 1H4a2 2 0 0 0-2 2v14h2V3h12zm3 4H8a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h11a2 2 0 0 "
    "0 2-2V7a2 2 0 0 0-2-2zm0 16H8V7h11z",
    "comment": "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2z",
    "abandon": "M10.1 15.6 11.5 17l5-5-5-5-1.4 1.4 2.6 2.6H3v2h9.7zM19 3H5a2 2 0 0 0-2 "
    "2v4h2V5h14v14H5v-4H3v4a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2z",
    "star": "M12 17.3 18.2 21l-1.6-7L22 9.2l-7.2-.6L12 2 9.2 8.6 2 9.2 7.5 14l-1.7 7z",
}
_TURNED = {"down": ("up", "fl-down"), "star": ("star", "fl-star")}


def short_text(text: str, chars: int = 60) -> str:
    return Truncator(text).chars(chars)


def short_id(value: str, link: str = "") -> SafeString | str:
    """An id (a trace's, a session's: often a 36-character UUID) on one line, cut short with an
    ellipsis, whole in its title (and in what a screen reader reads); a link when given one."""
    if not value:
        return "-"
    if link:
        return format_html('<a class="fl-id" href="{}" title="{}">{}</a>', link, value, value)
    return format_html('<span class="fl-id" title="{}">{}</span>', value, value)


def short_datetime(when: datetime | None) -> SafeString | str:
    """A moment in a narrow column: the day as short_date() writes it, and the time."""
    return _time_tag(when, " H:i")


def _day(local: datetime) -> str:
    return "M j" if local.year == timezone.localtime().year else "M j, Y"


def short_date(when: datetime | None) -> SafeString | str:
    """A date in a narrow column: the day, with the month's short name (and the year, if not
    this one); the whole date and time, in the site's format, in its title."""
    return _time_tag(when, "")


def _time_tag(when: datetime | None, time_format: str) -> SafeString | str:
    if when is None:
        return "-"
    local = timezone.localtime(when)
    return format_html(
        '<time class="fl-nowrap" datetime="{}" title="{}">{}</time>',
        when.isoformat(),
        date_format(local, "DATETIME_FORMAT"),
        date_format(local, _day(local) + time_format),
    )


def icon(name: str) -> SafeString:
    path, css = _TURNED.get(name, (name, ""))
    return format_html(
        '<svg class="fl-icon {}" viewBox="0 0 24 24" aria-hidden="true"><path d="{}"/></svg>',
        css,
        ICONS[path],
    )


def signal_icons(trace: Trace) -> SafeString | str:
    """A trace's signals as icons with their counts (ratings: their mean), one per signal of
    ``SIGNALS`` that the trace has."""
    parts = []
    for signal in SIGNALS:
        count = getattr(trace, signal.counter)
        if not count:
            continue
        if signal.counter == "rating_count":
            mean = f"{trace.rating_avg:.1f}"
            title = _("%(n)d ratings, mean %(mean)s") % {"n": count, "mean": mean}
            parts.append((title, icon(signal.icon), mean))
        else:
            parts.append((f"{count} {str(signal.label).lower()}", icon(signal.icon), count))
    html = format_html_join("", '<span class="fl-signal" title="{}">{}{}</span>', parts)
    return html or "-"


def events_url(project_id: int, trace_key: str, **filters) -> str:
    """The admin's event list filtered to one trace's events (and ``filters``)."""
    query = {"project__id__exact": project_id, "trace_key": trace_key, **filters}
    return f"{reverse('admin:feedback_loop_feedbackevent_changelist')}?{urlencode(query)}"
