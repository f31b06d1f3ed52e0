"""Small SVG charts drawn on the server: no JavaScript, no library, escaped labels. They use
the admin's CSS variables, so they follow its light and dark themes."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 640
_AXIS = "var(--hairline-color, #ccc)"
_TEXT = "var(--body-quiet-color, #666)"
_LINE = "var(--link-fg, #447e9b)"
_GOOD = "#3a8d5c"
_BAD = "#ba2121"


def _n(value: float) -> str:
    """A coordinate, formatted before format_html escapes it (format specs fail on its output)."""
    return f"{value:.1f}"


def _svg(width: int, height: int, label: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="fl-chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'preserveAspectRatio="xMinYMin meet" style="max-width:{}px;font:11px sans-serif">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        label,
        width,
        label,
        body,
    )


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    label: str,
    bars: Sequence[int] | None = None,
    height: int = 180,
) -> SafeString:
    """A 0-100% line over days (gaps where a day has no value), over grey volume bars."""
    left, right, top, bottom = 36, 8, 8, 22
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    n = max(len(points), 1)
    step = plot_w / max(n - 1, 1)
    parts: list[SafeString] = []
    for share in (0, 0.5, 1):
        y = top + plot_h * (1 - share)
        parts.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}%</text>',
                left,
                WIDTH - right,
                y,
                y,
                _AXIS,
                left - 4,
                y + 4,
                _TEXT,
                int(share * 100),
            )
        )
    if bars:
        most = max(bars) or 1
        width = max(step * 0.6, 1)
        for i, count in enumerate(bars):
            h = plot_h * count / most * 0.35
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" '
                    'opacity=".35"><title>{}: {} traces</title></rect>',
                    left + i * step - width / 2,
                    top + plot_h - h,
                    width,
                    h,
                    _AXIS,
                    points[i][0],
                    count,
                )
            )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_day, value) in enumerate(points):
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{left + i * step:.1f},{top + plot_h * (1 - value):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(
            format_html(
                '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                " ".join(seg),
                _LINE,
            )
        )
    for i, (day, value) in enumerate(points):
        if value is not None:
            parts.append(
                format_html(
                    '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{}: {}%</title></circle>',
                    left + i * step,
                    top + plot_h * (1 - value),
                    _LINE,
                    day,
                    round(value * 100),
                )
            )
    for i in sorted({0, n // 2, n - 1}) if points else ():
        anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="{}" fill="{}">{}</text>',
                _n(left + i * step),
                height - 6,
                anchor,
                _TEXT,
                points[i][0],
            )
        )
    # Every part was built by format_html, which escaped its values.
    return _svg(WIDTH, height, label, mark_safe("".join(parts)))


def bar_chart(
    items: Sequence[tuple[str, int]], *, label: str, color: str = _LINE, empty: str = "No data yet."
) -> SafeString:
    """Horizontal bars, one per (label, count), longest first as given."""
    if not items:
        return format_html('<p class="help">{}</p>', empty)
    row, label_w, right = 22, 170, 56
    height = row * len(items) + 4
    most = max(count for _name, count in items) or 1
    bar_w = WIDTH - label_w - right
    body = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>'
        '<rect x="{}" y="{}" width="{}" height="14" rx="2" fill="{}"><title>{}: {}</title>'
        '</rect><text x="{}" y="{}" fill="{}">{}</text>',
        (
            (
                label_w - 6,
                i * row + 15,
                _TEXT,
                name[:28],
                label_w,
                i * row + 4,
                max(bar_w * count / most, 1),
                color,
                name,
                count,
                label_w + max(bar_w * count / most, 1) + 4,
                i * row + 15,
                _TEXT,
                f"{count:,}",
            )
            for i, (name, count) in enumerate(items)
        ),
    )
    return _svg(WIDTH, height, label, body)


def share_bar(done: int, total: int, *, label: str) -> SafeString:
    """One bar: the share ``done`` of ``total``, with its percentage."""
    share = done / total if total else 0
    body = format_html(
        '<rect x="0" y="4" width="{}" height="18" rx="3" fill="{}" opacity=".35"/>'
        '<rect x="0" y="4" width="{}" height="18" rx="3" fill="{}"/>'
        '<text x="{}" y="40" fill="{}">{}% ({} of {})</text>',
        WIDTH,
        _AXIS,
        WIDTH * share,
        _GOOD,
        0,
        _TEXT,
        round(share * 100),
        done,
        total,
    )
    return _svg(WIDTH, 48, label, body)


GOOD, BAD = _GOOD, _BAD
