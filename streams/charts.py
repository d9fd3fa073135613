"""Bar charts of a stream's days, drawn on the server as SVG: no JavaScript, nothing the CSP forbids.

It owns the geometry only (bars, a threshold line, the scale's top), in a fixed viewBox the stylesheet
stretches to the page's width; the template draws it with classes (colours live in static/css/app.css,
never in a style attribute, which the CSP refuses) and puts every word in HTML around it. Each bar carries
its day in words as a `<title>` (a tooltip); the numbers themselves are in a table beside the chart.
It must never read a request, Postmark or the cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 600
HEIGHT = 120
GAP = 0.2  # the share of each day's slot left empty between bars
MIN_VISIBLE = 1.5  # a day with a little (not nothing) still shows a sliver


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "3 December: 1,204 sent"
    warning: bool = False


@dataclass(frozen=True)
class Chart:
    bars: tuple[Bar, ...]
    top: float  # the value at the chart's top edge
    threshold_y: float | None = None  # where our warning threshold's line is drawn
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def top_label(self) -> str:
        """The scale's top as a person writes it: `5,000`, `200`, `0.5`."""
        return f"{self.top:,g}"

    @property
    def empty(self) -> bool:
        return not self.bars


def nice_top(value: float) -> float:
    """A round number at or above `value` for the scale's top: 1, 2, 2.5, 5 or 10 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def bar_chart(
    days: Sequence[date], values: Sequence[float | None], *, describe, threshold: float | None = None, floor: float = 0
) -> Chart:
    """One bar per day, scaled to a round top at least `floor` (and above the threshold, when there is one).

    A value of None or 0 draws no bar; `describe(day, value)` gives each bar's words; a value above the
    threshold is a warning bar.
    """
    if len(days) != len(values):
        raise ValueError("one value per day")
    highest = max([value for value in values if value is not None] + [floor, (threshold or 0) * 1.25])
    top = nice_top(highest)
    slot = WIDTH / max(len(days), 1)
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        if not value:
            continue
        height = max(HEIGHT * value / top, MIN_VISIBLE)
        bars.append(
            Bar(
                x=round(index * slot + slot * GAP / 2, 2),
                y=round(HEIGHT - height, 2),
                width=round(slot * (1 - GAP), 2),
                height=round(height, 2),
                label=describe(day, value),
                warning=threshold is not None and value > threshold,
            )
        )
    threshold_y = round(HEIGHT - HEIGHT * threshold / top, 2) if threshold is not None else None
    return Chart(bars=tuple(bars), top=top, threshold_y=threshold_y)
