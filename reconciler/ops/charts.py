"""The report's charts as PNG files (matplotlib, Agg, no display).

matplotlib is imported here only, and this module only when a report is written: `alm
--version` and every other command never load it. Figures are drawn on their own Agg
canvas (no pyplot state), at a fixed size and dpi, with no date in the PNG metadata, so
the same economics give the same bytes. Bars are horizontal: agent names read along the
axis however many agents there are. Names from traces (models, revisions) are drawn as
text (matplotlib's mathtext is off for them).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.fsutil import write_atomic
from reconciler.ops.economics import Economics
from reconciler.ops.model import NS_PER_S

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN = 9.0
DPI = 100
ROW_IN = 0.32  # height per bar row
MAX_ROWS = 40  # bars beyond these are summed into "others" (the table has them all)
LABEL_CHARS = 40
MAX_TICKS = 8
COLOURS = "tab20"


def _figure(rows: int = 0, height: float = 4.5) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, max(height, 1.6 + ROW_IN * rows)), dpi=DPI)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    write_atomic(path, buffer.getvalue())
    return path


def _label(text: str) -> str:
    """Trace text as a plain label: clipped, and with `$` escaped so mathtext never
    parses it."""
    clipped = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    return clipped.replace("$", r"\$")


def _usd(axes: Axes, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    formatter = FuncFormatter(lambda value, _: f"${value:,.4g}")
    (axes.xaxis if axis == "x" else axes.yaxis).set_major_formatter(formatter)


def _short(revision: str | None) -> str:
    if revision is None:
        return "no revision"
    return revision.removeprefix("sha256:")[:12]


def cost_per_task(economics: Economics, out: Path) -> Path:
    """Mean cost per task by agent and revision (bars), with p95 marked."""
    rows = [(f"{a.agent} @ {_short(r.revision)}", r.cost.mean_usd or 0.0, r.cost.p95_usd)
            for a in economics.agents for r in a.revisions][:MAX_ROWS]  # fmt: skip
    figure, axes = _figure(len(rows))
    places = list(range(len(rows)))[::-1]
    axes.barh(places, [r[1] for r in rows], color="#4c78a8", label="mean")
    p95 = [(y, r[2]) for y, r in zip(places, rows, strict=True) if r[2] is not None]
    axes.scatter([v for _, v in p95], [y for y, _ in p95], marker="|", s=200, color="#e45756",
                 label="p95", zorder=3)  # fmt: skip
    axes.set_yticks(places, [_label(r[0]) for r in rows])
    axes.set_xlabel("USD per task")
    axes.set_title("Cost per task by agent and revision (priced tasks)")
    _usd(axes)
    _legend_below(axes, 2)
    return _save(figure, out / "cost-per-task.png")


def cost_trend(economics: Economics, out: Path) -> Path:
    """Cost per hour or day, one line per agent."""
    trend = economics.trend
    figure, axes = _figure(height=4.8)
    times = list(range(len(trend.starts_ns)))
    colours = _colours(len(trend.cost_usd))
    for colour, (agent, series) in zip(colours, trend.cost_usd.items(), strict=False):
        axes.plot(times, series, marker="o", markersize=3, color=colour, label=_label(agent))
    axes.set_ylabel(f"USD per {trend.bucket}")
    axes.set_xlabel(f"{trend.bucket} (UTC)")
    axes.set_title(f"Cost per {trend.bucket} by agent")
    _usd(axes, "y")
    axes.set_ylim(bottom=0)
    _time_axis(axes, trend.starts_ns, trend.bucket)
    _legend_outside(axes, len(trend.cost_usd))
    return _save(figure, out / "cost-trend.png")


def run_rate(economics: Economics, out: Path) -> Path:
    """Monthly run-rate per agent (bars) against its budget and ceiling (markers)."""
    agents = list(economics.agents)[:MAX_ROWS]
    figure, axes = _figure(len(agents))
    places = list(range(len(agents)))[::-1]
    axes.barh(places, [a.run_rate_usd or 0.0 for a in agents], color="#4c78a8",
              label="run-rate (observed)")  # fmt: skip
    # the ceiling is often far beyond: the axis ends past the run-rates and budgets, and
    # a ceiling beyond it is an arrow at the edge with its amount written
    right = 1.25 * max([a.run_rate_usd or 0.0 for a in agents]
                       + [a.budget_usd or 0.0 for a in agents], default=0.0) or 1.0  # fmt: skip
    for attribute, colour, marker, name in (
        ("budget_usd", "#e45756", "D", "budget (volume x cost target)"),
        ("ceiling_usd", "#7f7f7f", "|", "ceiling (volume x max cost per task)"),
    ):
        marks = [(y, getattr(a, attribute)) for y, a in zip(places, agents, strict=True)]
        marks = [(y, v) for y, v in marks if v is not None]
        inside = [(y, v) for y, v in marks if v <= right]
        axes.scatter([v for _, v in inside], [y for y, _ in inside], marker=marker, s=60,
                     color=colour, label=name, zorder=3)  # fmt: skip
        for y, value in [(y, v) for y, v in marks if v > right]:
            axes.annotate(f"{name.split()[0]} ${value:,.0f} →", (right, y), ha="right",
                          va="center", fontsize="x-small", color=colour)  # fmt: skip
    axes.set_xlim(0, right)
    axes.set_yticks(places, [_label(a.agent) for a in agents])
    axes.set_xlabel("USD per month (30 days)")
    axes.set_title("Monthly run-rate against budget")
    _usd(axes)
    _legend_below(axes, 3)
    return _save(figure, out / "run-rate.png")


def cost_drivers(economics: Economics, out: Path) -> Path:
    """Share of the window's priced cost: by model, and in each cost pattern."""
    from matplotlib.figure import Figure

    drivers = economics.drivers
    models = [m for m in drivers.models if m.share is not None][:12]
    patterns = list(drivers.patterns)
    rows = max(len(models), len(patterns))
    figure = Figure(figsize=(WIDTH_IN, max(4.0, 1.8 + ROW_IN * rows)), dpi=DPI)
    left, right = figure.subplots(1, 2)
    _share_bars(left, [f"{m.provider}/{m.model}" for m in models],
                [m.share or 0.0 for m in models], "By model")  # fmt: skip
    _share_bars(right, [p.key for p in patterns], [p.share or 0.0 for p in patterns],
                "By pattern (overlapping)")  # fmt: skip
    figure.suptitle(f"Cost drivers: share of ${drivers.priced_usd:,.2f} priced cost")
    return _save(figure, out / "cost-drivers.png")


def _share_bars(axes: Axes, names: Sequence[str], shares: Sequence[float], title: str) -> None:
    places = list(range(len(names)))[::-1]
    axes.barh(places, [s * 100 for s in shares], color=_colours(len(names)))
    axes.set_yticks(places, [_label(n) for n in names])
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of priced cost (USD)")
    axes.set_title(title)
    for y, share in zip(places, shares, strict=True):
        inside = share > 0.8  # the label would run past the axes: write it in the bar
        axes.text(share * 100 + (-1 if inside else 1), y, f"{share:.1%}", va="center",
                  ha="right" if inside else "left", color="white" if inside else "black",
                  fontsize="small")  # fmt: skip


def _colours(count: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    palette = colormaps[COLOURS]
    return [palette(i % palette.N) for i in range(count)]


def _time_axis(axes: Axes, starts_ns: Sequence[int], bucket: str) -> None:
    """At most MAX_TICKS dates along the axis, slanted so they never overlap."""
    shape = "%m-%d %H:%M" if bucket == "hour" else "%Y-%m-%d"
    step = max(1, -(-len(starts_ns) // MAX_TICKS))
    ticks = list(range(0, len(starts_ns), step))
    names = [datetime.fromtimestamp(starts_ns[i] / NS_PER_S, UTC).strftime(shape) for i in ticks]
    axes.set_xticks(ticks, names, rotation=30, horizontalalignment="right")


def _legend_below(axes: Axes, columns: int) -> None:
    """Under the axis label, where no bar or label can be: a legend never hides data."""
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=columns,
                fontsize="small", frameon=False)  # fmt: skip


def _legend_outside(axes: Axes, entries: int) -> None:
    if entries:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                    ncols=1 if entries <= 16 else 2)  # fmt: skip


CHARTS: dict[str, Callable[[Economics, Path], Path]] = {
    "cost-per-task": cost_per_task,
    "cost-trend": cost_trend,
    "run-rate": run_rate,
    "cost-drivers": cost_drivers,
}


def draw_all(economics: Economics, out: Path) -> dict[str, Path]:
    """Every chart, written in `out`; none for a window without tasks."""
    if not economics.total.tasks:
        return {}
    return {name: draw(economics, out) for name, draw in CHARTS.items()}
