"""The report's charts: each one drawn, a valid PNG of the fixed size, not blank, the same
bytes for the same data; none for an empty window; 14 agents get taller bar charts."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from reconciler.ops import charts
from reconciler.ops.economics import AgentPlan, Economics, economics
from reconciler.ops.model import NS_PER_S, Window
from reconciler.ops.rates import RatedPriceBook
from tests.ops_report_tasks import DAY0_NS, make_task

PNG = b"\x89PNG\r\n\x1a\n"


def fleet(agents: int, days: float = 3.0) -> Economics:
    names = [f"agent-{n:02d}" for n in range(agents)]
    tasks = [make_task(i, names[i % agents], f"sha256:{'ab'[i % 2] * 64}",
                       start_s=i * 600.0, tools=["kb.search"] * (i % 5),
                       extra_calls=i % 7 == 0)
             for i in range(int(days * 144))]  # fmt: skip
    plans = {n: AgentPlan(n, 3000, 0.002, 0.05, 3) for n in names}
    window = Window(DAY0_NS, DAY0_NS + int(days * 86400 * NS_PER_S))
    return economics(iter(tasks), plans, RatedPriceBook(), window, "traces.db")


def read_png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines, read with the standard library."""
    data = path.read_bytes()
    assert data[:8] == PNG
    at, idat, size = 8, b"", (0, 0)
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[at + 8 + length :][:4])[0]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    return size[0], size[1], zlib.decompress(idat)


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_each_chart_is_a_png_with_something_drawn(name: str, tmp_path: Path) -> None:
    path = charts.CHARTS[name](fleet(4), tmp_path)
    assert path.parent == tmp_path and path.name == f"{name}.png"
    width, height, pixels = read_png(path)
    assert (width, height)[0] == charts.WIDTH_IN * charts.DPI and height >= 300
    import matplotlib.image

    image = matplotlib.image.imread(path)[:, :, :3]
    # data is drawn in colour; titles, labels, axes and frames are black or grey
    saturation = image.max(axis=2) - image.min(axis=2)
    coloured = float((saturation > 0.2).mean())
    assert coloured > 0.005, f"{name}: nothing but text and axes ({coloured:.2%} coloured)"
    assert len({tuple(px) for px in image.reshape(-1, 3).tolist()}) > 3
    assert len(pixels) > 0


def test_the_same_data_gives_the_same_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    first, second = charts.draw_all(fleet(3), one), charts.draw_all(fleet(3), two)
    for name in charts.CHARTS:
        assert first[name].read_bytes() == second[name].read_bytes()
    assert b"Software" not in first["run-rate"].read_bytes()  # no version, no date


def test_many_agents_make_taller_bar_charts(tmp_path: Path) -> None:
    few = read_png(charts.cost_per_task(fleet(3), tmp_path / "few"))[1]
    many = read_png(charts.cost_per_task(fleet(14), tmp_path / "many"))[1]
    # a row per agent and revision (14 agents: 14 rows, each agent's tasks alternate
    # revisions only when the agent count is odd), ROW_IN inches each: labels keep room
    assert many > few and many >= 14 * charts.ROW_IN * charts.DPI
    run_rate = read_png(charts.run_rate(fleet(14), tmp_path / "many"))[1]
    assert run_rate >= 14 * charts.ROW_IN * charts.DPI


def test_trace_text_with_dollar_signs_is_drawn_as_text(tmp_path: Path) -> None:
    window = Window(DAY0_NS, DAY0_NS + 86400 * NS_PER_S)
    tasks = [make_task(1, "a", "$\\frac{1}{0}$ rev", model="$x^$", provider="openai")]
    result = economics(iter(tasks), {}, RatedPriceBook(), window, "x")
    assert set(charts.draw_all(result, tmp_path)) == set(charts.CHARTS)  # no mathtext error


def test_an_empty_window_draws_nothing(tmp_path: Path) -> None:
    window = Window(DAY0_NS, DAY0_NS + 86400 * NS_PER_S)
    empty = economics(iter(()), {}, RatedPriceBook(), window, "traces.db")
    assert charts.draw_all(empty, tmp_path) == {}
    assert list(tmp_path.iterdir()) == []
