"""Progress charts as PNG (matplotlib, Agg backend: no display, safe in a worker thread).

Drawn off the event loop (`asyncio.to_thread` in `bot.media`): a chart takes tens of
milliseconds of CPU. Each call builds its own Figure object (never pyplot's global state),
so charts drawn in two threads at once do not meet.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from bot.i18n import gettext_for

SIZE = (8.0, 4.5)   # inches, at 100 dpi: 800 × 450 pixels, readable on a phone
DPI = 100


@dataclass(frozen=True)
class CumulativeChart:
    """Registered initiatives day by day against the target over the phase."""

    title: str
    starts_on: date
    ends_on: date
    points: tuple[tuple[date, int], ...]   # cumulative registered, by day
    goal: int | None                        # the main target, None when there is none


@dataclass(frozen=True)
class ChildrenChart:
    """Each child unit's % of its target, with the 100% line."""

    title: str
    bars: tuple[tuple[str, float], ...]     # (short name, % of target)


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def draw_cumulative(chart: CumulativeChart, *, locale: str) -> bytes:
    _ = gettext_for(locale)
    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.add_subplot()
    if chart.points:
        days = [d for d, _n in chart.points]
        counts = [n for _d, n in chart.points]
        ax.plot(days, counts, color="#1f6fb2", linewidth=2, label=_("Registered (cumulative)"))
        ax.fill_between(days, counts, color="#1f6fb2", alpha=0.12)
    if chart.goal:
        ax.plot([chart.starts_on, chart.ends_on], [0, chart.goal], color="#999999",
                linestyle=":", label=_("Even pace to the target"))
        ax.axhline(chart.goal, color="#c0392b", linestyle="--", label=_("Target"))
    ax.set_xlim(chart.starts_on, chart.ends_on)
    top = max([chart.goal or 0, *(n for _d, n in chart.points)], default=0)
    ax.set_ylim(0, max(top * 1.15, 1))
    ax.xaxis.set_major_formatter(DateFormatter("%d/%m"))
    ax.set_title(chart.title)
    ax.set_ylabel(_("Initiatives"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def draw_children(chart: ChildrenChart, *, locale: str) -> bytes:
    _ = gettext_for(locale)
    bars = chart.bars or (("–", 0.0),)
    fig = Figure(figsize=(SIZE[0], max(SIZE[1], 0.35 * len(bars) + 1.2)), layout="constrained")
    ax = fig.add_subplot()
    names = [n for n, _p in reversed(bars)]
    values = [p for _n, p in reversed(bars)]
    colors = ["#27ae60" if v >= 100 else "#e67e22" if v >= 50 else "#c0392b" for v in values]
    ax.barh(names, values, color=colors)
    ax.axvline(100, color="#333333", linestyle="--", label=_("The target (100%)"))
    ax.set_xlabel(_("Share of the target, in percent (registered initiatives)"))
    ax.set_title(chart.title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)
