"""Small SVG charts drawn on the server: no JavaScript, no library, escaped labels. They use
the admin's CSS variables, so they follow its light and dark themes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Charts are drawn this many units wide and scaled to their box: the dashboard lays them out in
# columns of 600 px or more (curation.css), so that their text stays near its 11 px.
WIDTH = 800
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
        'preserveAspectRatio="xMinYMin meet" style="font:11px sans-serif">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        label,
        label,
        body,
    )


@dataclass(frozen=True)
class _Plot:
    """Where a line chart draws: its plot area, and the x of the i-th day."""

    left: float
    top: float
    width: float
    height: float
    step: float

    def x(self, i: int) -> float:
        return self.left + i * self.step

    def y(self, share: float) -> float:
        return self.top + self.height * (1 - share)


def line_chart(
    points: Sequence[tuple[str, float | None]],
    *,
    label: str,
    bars: Sequence[int] | None = None,
    height: int = 180,
) -> SafeString:
    """A 0-100% line over days (gaps where a day has no value), over grey volume bars."""
    left, right, top, bottom = 36, 8, 8, 22
    plot_width, plot_height = WIDTH - left - right, height - top - bottom
    step = plot_width / max(len(points) - 1, 1)
    plot = _Plot(left, top, plot_width, plot_height, step)
    parts = [
        *_grid(plot, right),
        *(_volume(plot, points, bars) if bars else []),
        *_line(plot, points),
        *_day_labels(plot, points, height),
    ]
    # Every part was built by format_html, which escaped its values.
    return _svg(WIDTH, height, label, mark_safe("".join(parts)))


def _grid(plot: _Plot, right: float) -> list[SafeString]:
    return [
        format_html(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
            '<text x="{}" y="{}" text-anchor="end" fill="{}">{}%</text>',
            plot.left,
            WIDTH - right,
            plot.y(share),
            plot.y(share),
            _AXIS,
            plot.left - 4,
            plot.y(share) + 4,
            _TEXT,
            int(share * 100),
        )
        for share in (0, 0.5, 1)
    ]


def _volume(plot: _Plot, points, bars: Sequence[int]) -> list[SafeString]:
    most = max(bars) or 1
    width = max(plot.step * 0.6, 1)
    parts = []
    for i, count in enumerate(bars):
        h = plot.height * count / most * 0.35
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" '
                'opacity=".35"><title>{}: {}</title></rect>',
                plot.x(i) - width / 2,
                plot.top + plot.height - h,
                width,
                h,
                _AXIS,
                points[i][0],
                count,
            )
        )
    return parts


def _line(plot: _Plot, points) -> list[SafeString]:
    """The line, broken where a day has no value, and a dot (with its value) on each day."""
    segments: list[list[str]] = [[]]
    for i, (_day, value) in enumerate(points):
        if value is None:
            segments.append([])
        else:
            segments[-1].append(f"{plot.x(i):.1f},{plot.y(value):.1f}")
    parts = [
        format_html(
            '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
            " ".join(segment),
            _LINE,
        )
        for segment in segments
        if segment
    ]
    parts += [
        format_html(
            '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{}: {}%</title></circle>',
            plot.x(i),
            plot.y(value),
            _LINE,
            day,
            round(value * 100),
        )
        for i, (day, value) in enumerate(points)
        if value is not None
    ]
    return parts


def _day_labels(plot: _Plot, points, height: int) -> list[SafeString]:
    n = max(len(points), 1)
    return [
        format_html(
            '<text x="{}" y="{}" text-anchor="{}" fill="{}">{}</text>',
            _n(plot.x(i)),
            height - 6,
            "start" if i == 0 else "end" if i == n - 1 else "middle",
            _TEXT,
            points[i][0],
        )
        for i in (sorted({0, n // 2, n - 1}) if points else ())
    ]


def bar_chart(
    items: Sequence[tuple[str, int]], *, label: str, color: str = _LINE, empty: str = "No data yet."
) -> SafeString:
    """Horizontal bars, one per (label, count), longest first as given."""
    if not items:
        return format_html('<p class="help">{}</p>', empty)
    row, label_w, right = 22, 210, 56
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
                name[:34],
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


# An interval: (rate, low, high), each a share from 0 to 1, or None without data.
Interval = tuple[float | None, float | None, float | None]


def interval_chart(
    rows: Sequence[tuple[str, Interval, Interval, str, str | None]],
    *,
    label: str,
    names: tuple[str, str] = ("A", "B"),
    empty: str = "No data yet.",
    scale: float | None = None,
) -> SafeString:
    """Two intervals per figure, one row each: (figure, A's (rate, low, high), B's, the verdict
    in words, "good", "bad" or None for its marker). A is drawn in the link colour, B in grey
    (a row without B draws A alone); each row has its own scale, from 0 to 5, 10, 20, 50 or
    100%, written at its right, unless ``scale`` gives every row one (rows of one figure, to be
    compared with each other)."""
    if not rows:
        return format_html('<p class="help">{}</p>', empty)
    row_h, label_w, verdict_w = 36, 190, 250
    plot_l, plot_r = label_w, WIDTH - verdict_w - 48
    parts = []
    for i, (name, a, b, verdict, tone) in enumerate(rows):
        top = i * row_h + 4
        highs = [v for v in (a[2], b[2]) if v is not None]
        row_scale = scale or next(
            (s for s in (0.05, 0.1, 0.2, 0.5) if max(highs, default=0) <= s), 1.0
        )

        def x(share: float, scale: float = row_scale) -> float:
            return plot_l + (plot_r - plot_l) * min(share / scale, 1)

        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>'
                '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
                '<text x="{}" y="{}" fill="{}">{}</text>',
                label_w - 8,
                top + 19,
                _TEXT,
                name[:30],
                plot_l,
                plot_l,
                top + 2,
                top + 30,
                _AXIS,
                plot_r + 6,
                top + 19,
                _TEXT,
                # One scale for every row: written once, on the first.
                f"{round(row_scale * 100)}%" if scale is None or i == 0 else "",
            )
        )
        for (rate, low, high), y, color, side in (
            (a, top + 10, _LINE, names[0]),
            (b, top + 24, _TEXT, names[1]),
        ):
            if rate is None or low is None or high is None:
                continue
            parts.append(
                format_html(
                    "<g><title>{} {}: {}% ({}% to {}%)</title>"
                    '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="3"/>'
                    '<circle cx="{}" cy="{}" r="4" fill="{}"/></g>',
                    side,
                    name,
                    round(rate * 100, 1),
                    round(low * 100, 1),
                    round(high * 100, 1),
                    _n(x(low)),
                    _n(max(x(high), x(low) + 1)),
                    y,
                    y,
                    color,
                    _n(x(rate)),
                    y,
                    color,
                )
            )
        marker = {"good": _GOOD, "bad": _BAD}.get(tone or "", _AXIS)
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="8" height="8" rx="2" fill="{}"/>'
                '<text x="{}" y="{}" fill="{}">{}</text>',
                WIDTH - verdict_w,
                top + 11,
                marker,
                WIDTH - verdict_w + 14,
                top + 19,
                _TEXT,
                verdict[:44],
            )
        )
    return _svg(WIDTH, row_h * len(rows) + 8, label, mark_safe("".join(parts)))
