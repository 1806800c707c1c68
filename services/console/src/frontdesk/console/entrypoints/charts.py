"""Charts drawn on the server as inline SVG (no script, no CDN): bars and lines over the 168 hours
of a week, and lines over weeks. Each chart is an image with a title and a description for
assistive technology; the page puts the numbers in a table next to it. Series differ by shape
(bars, solid or dashed lines, markers), never by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 1100, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 34
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Style = Literal["bars", "line", "dashed", "target"]
COLOURS = {"bars": "#0b5cad", "line": "#0b5cad", "dashed": "#8a4b00", "target": "#4a5560"}


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    style: Style


@dataclass(frozen=True)
class Scale:
    bottom: float
    top: float
    percent: bool = False

    def y(self, value: float) -> float:
        span = self.top - self.bottom
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - ((value - self.bottom) / span if span else 0))


def _nice_top(values: Sequence[float | None], floor: float) -> float:
    peak = max([v for v in values if v is not None] + [floor])
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000):
        if peak <= step * 4:
            return float(step * 4)
    return peak


def _axis(scale: Scale, width: int) -> list[str]:
    parts = []
    for i in range(5):
        value = scale.bottom + (scale.top - scale.bottom) * i / 4
        y = scale.y(value)
        text = f"{value * 100:.0f}%" if scale.percent else f"{value:g}"
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{text}</text>')
    return parts


def _series(series: Series, xs: list[float], slot: float, scale: Scale) -> list[str]:
    colour = COLOURS[series.style]
    if series.style == "bars":
        bar = max(1.0, slot * 0.7)
        return [
            f'<rect x="{x - bar / 2:.1f}" y="{scale.y(v):.1f}" width="{bar:.1f}"'
            f' height="{scale.y(scale.bottom) - scale.y(v):.1f}" fill="{colour}"/>'
            for x, v in zip(xs, series.values, strict=True)
            if v is not None
        ]
    paths: list[list[str]] = []
    current: list[str] = []
    for x, v in zip(xs, series.values, strict=True):
        if v is None:
            if current:
                paths.append(current)
            current = []
        else:
            current.append(f"{x:.1f},{scale.y(v):.1f}")
    if current:
        paths.append(current)
    dash = ' stroke-dasharray="6 4"' if series.style in ("dashed", "target") else ""
    width = 1.5 if series.style == "target" else 2.5
    out = [
        f'<polyline points="{" ".join(p)}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>' for p in paths
    ]
    if series.style == "line" and len(xs) <= 20:  # few points: mark each
        out += [
            f'<circle cx="{x:.1f}" cy="{scale.y(v):.1f}" r="4" fill="{colour}"/>'
            for x, v in zip(xs, series.values, strict=True)
            if v is not None
        ]
    return out


def _svg(chart_id: str, title: str, description: str, body: list[str], width: int = WIDTH) -> Markup:
    return Markup(  # noqa: S704 - every value is a number, a fixed word, or escaped here
        f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
        f' preserveAspectRatio="xMidYMid meet"><title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(description)}</desc>{"".join(body)}</svg>'
    )


def hours_of_week(
    chart_id: str, title: str, description: str, series: Sequence[Series], percent: bool = False
) -> Markup:
    """168 hours, Monday 00:00 first, a label and a rule at each day's start."""
    top = 1.0 if percent else _nice_top([v for s in series for v in s.values], 1)
    scale = Scale(0.0, top, percent)
    slot = (WIDTH - LEFT - RIGHT) / 168
    xs = [LEFT + slot * (i + 0.5) for i in range(168)]
    body = _axis(scale, WIDTH)
    for day, name in enumerate(DAYS):
        x = LEFT + slot * 24 * day
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM + 6}" class="day"/>')
        body.append(f'<text x="{x + slot * 12:.1f}" y="{HEIGHT - 10}" class="tick" text-anchor="middle">{name}</text>')
    for s in series:
        body += _series(s, xs, slot, scale)
    return _svg(chart_id, title, description, body)


def weeks(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    scale: Scale,
    width: int = 520,
) -> Markup:
    """One point per week (labels like W10), oldest first, on a fixed scale; narrower than the hours
    of the week so that three fit side by side and their text stays legible."""
    slot = (width - LEFT - RIGHT) / max(1, len(labels))
    xs = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    body = _axis(scale, width)
    for x, label in zip(xs, labels, strict=True):
        body.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" class="tick" text-anchor="middle">{escape(label)}</text>')
    for s in series:
        body += _series(s, xs, slot, scale)
    return _svg(chart_id, title, description, body, width)
