"""Bar charts for the pages, laid out on the server and drawn as SVG by a template.

A chart is data here (:class:`Chart`: its bars placed in a fixed view box) and markup in
``templates/_chart.html``, which gives the SVG a ``<title>`` and a ``<desc>`` and writes
every bar's label and number as text beside it, so that nothing is said by colour or
length alone; the page puts the same numbers in a table beside the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Bar", "Chart", "bar_chart"]

#: The view box: labels on the left, bars after them, the number after each bar.
WIDTH: Final = 700
LABEL_W: Final = 340
BAR_MAX_W: Final = 300
ROW_H: Final = 28
BAR_H: Final = 18
PAD: Final = 8


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One bar: its label, its number and, optionally, a word for its kind (``red``)."""

    label: str
    value: int
    kind: str = "plain"


@dataclass(frozen=True, kw_only=True)
class PlacedBar:
    label: str
    value: int
    kind: str
    y: int
    width: int
    text_y: int


@dataclass(frozen=True, kw_only=True)
class Chart:
    """A horizontal bar chart, ready for ``templates/_chart.html``."""

    ident: str
    title: str
    desc: str
    bars: tuple[PlacedBar, ...]
    width: int
    height: int
    label_w: int
    value_x_pad: int = 6


def bar_chart(ident: str, title: str, desc: str, bars: Sequence[Bar]) -> Chart:
    """``bars`` laid out one per row, each as long as its share of the largest."""
    top = max((b.value for b in bars), default=0)
    placed = tuple(
        PlacedBar(
            label=b.label,
            value=b.value,
            kind=b.kind,
            y=PAD + i * ROW_H,
            width=round(BAR_MAX_W * b.value / top) if top else 0,
            text_y=PAD + i * ROW_H + BAR_H - 4,
        )
        for i, b in enumerate(bars)
    )
    return Chart(
        ident=ident,
        title=title,
        desc=desc,
        bars=placed,
        width=WIDTH,
        height=2 * PAD + max(len(placed), 1) * ROW_H,
        label_w=LABEL_W,
    )
