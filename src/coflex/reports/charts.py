"""Charts for statements and reports.

The event report draws its chart with matplotlib. Customer statements are
written for every participant, 10,000 and more per event, so their chart is an
inline SVG line chart built from the numbers directly: matplotlib costs about
50 ms a figure, which alone would take minutes for a large fleet.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    colour: str
    dashed: bool = False


def svg_line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    unit: str,
    title: str,
    highlight: tuple[int, int] | None = None,
    width: int = 640,
    height: int = 260,
) -> str:
    """Draw series over shared x labels as an accessible inline SVG.

    ``highlight`` shades the index range ``[first, last)``, e.g. the event.
    """
    left, right, top, bottom = 56, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    count = len(labels)
    all_values = [v for s in series for v in s.values]
    top_value = max(max(all_values, default=0.0), 0.0) * 1.1 or 1.0
    low_value = min(min(all_values, default=0.0), 0.0) * 1.1

    def x(i: float) -> float:
        return left + plot_w * (i / max(count - 1, 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low_value) / (top_value - low_value))

    parts = [
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if highlight is not None:
        x0, x1 = x(highlight[0]), x(max(highlight[1] - 1, highlight[0]))
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{plot_h}" '
            'fill="#fde9c8"/>'
        )
    parts.extend(
        _axes(labels, unit, low_value, top_value, x, y, left, top, plot_w, plot_h)
    )
    for index, item in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(item.values))
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        parts.append(
            f'<polyline fill="none" stroke="{item.colour}" stroke-width="2"{dash} '
            f'points="{points}"/>'
        )
        parts.append(
            f'<text x="{left + 8 + 180 * index}" y="16" font-size="12" '
            f'fill="{item.colour}">■ {escape(item.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _axes(labels, unit, low, high, x, y, left, top, plot_w, plot_h):  # type: ignore[no-untyped-def]
    parts = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
    ]
    for step in range(5):
        value = low + (high - low) * step / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{value:.2f}</text>'
        )
    parts.append(
        f'<text x="12" y="{top + plot_h / 2:.0f}" font-size="11" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.0f})">{escape(unit)}</text>'
    )
    every = max(len(labels) // 8, 1)
    for i in range(0, len(labels), every):
        parts.append(
            f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" font-size="11" '
            f'text-anchor="middle">{escape(labels[i])}</text>'
        )
    return parts


@dataclass(frozen=True)
class TimeSeries:
    label: str
    times: Sequence[datetime]
    values: Sequence[float]
    colour: str
    style: str = "-"
    step: bool = False


def time_chart(
    series: Sequence[TimeSeries], *, timezone: str, title: str, unit: str
) -> str:
    """Draw series over local clock time with matplotlib and return SVG text."""
    from zoneinfo import ZoneInfo

    figure, axis = plt.subplots(figsize=(8, 3.6), dpi=100)
    for item in series:
        if item.step:
            axis.step(
                item.times,
                item.values,
                where="post",
                label=item.label,
                color=item.colour,
                ls=item.style,
            )
        else:
            axis.plot(
                item.times,
                item.values,
                label=item.label,
                color=item.colour,
                ls=item.style,
            )
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=ZoneInfo(timezone)))
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]
