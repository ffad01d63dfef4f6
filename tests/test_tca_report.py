"""The report's charts: one colour per policy everywhere, a readable completion scale, the
corpus tables on the page."""

from __future__ import annotations

from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from better_orders.config.settings import BetterOrdersConfig
from better_orders.tca.charts import PART_COLOURS, charts, policy_colours
from better_orders.tca.decisions import QuoteFile
from better_orders.tca.evaluate import TcaResult, run_tca
from better_orders.tca.policies import BUILTIN_POLICIES
from better_orders.tca.report import write_html
from test_tca_cli import small_file


def test_each_policy_has_one_colour_and_no_two_share_one() -> None:
    names = ["ladder", "mine", "market", "walk", "other", "passive", "seed-ladder"]
    colours = policy_colours(names)
    assert len(set(colours.values())) == len(names)
    # The built-ins keep their colour whatever else is compared.
    assert policy_colours(["market"])["market"] == colours["market"]
    assert policy_colours(["walk", "ladder"]) == {
        "walk": colours["walk"],
        "ladder": colours["ladder"],
    }
    assert not set(PART_COLOURS.values()) & set(colours.values())


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> TcaResult:
    folder = tmp_path_factory.mktemp("quotes")
    files = [QuoteFile.load(small_file(folder / f"{n}_20240109_l1.csv.gz")) for n in "ab"]
    return run_tca(
        files,
        [BUILTIN_POLICIES[n] for n in ("ladder", "market", "walk")],
        BetterOrdersConfig(),
        start=dt_time(9, 30),
        end=dt_time(9, 30, 40),
        every=timedelta(seconds=10),
    )


def test_every_chart_draws_a_policy_in_its_colour(result: TcaResult) -> None:
    from matplotlib.colors import to_hex

    colours = policy_colours([p.name for p in result.policies])
    drawn = {c.name: c.figure for c in charts(result)}
    for name in ("cost_by_minute", "completion_by_minute"):
        for ax in drawn[name].axes:
            for line in ax.get_lines():
                if line.get_label() in colours:
                    assert to_hex(line.get_color()) == colours[str(line.get_label())]
    legend = drawn["cost_distribution"].legends[0]
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        assert to_hex(handle.get_facecolor()) == colours[text.get_text()]
    for ax in drawn["cost_distribution"].axes:
        boxes = [p for p in ax.patches]
        assert [to_hex(b.get_facecolor()) for b in boxes] == list(colours.values())


def test_completion_is_shown_from_0_to_100_percent(result: TcaResult) -> None:
    completion = next(c.figure for c in charts(result) if c.name == "completion_by_minute")
    for ax in completion.axes:
        assert ax.get_ylim() == (0.0, 1.05)
        label = ax.yaxis.get_major_formatter()
        assert [label(v) for v in ax.get_yticks()] == ["0%", "25%", "50%", "75%", "100%"]


def test_the_page_holds_the_corpus_tables(result: TcaResult, tmp_path: Path) -> None:
    page = write_html(result, tmp_path / "r.html").read_text(encoding="utf-8")
    for heading in ("Per symbol-day", "Pooled", "Where the cost went", "Per file"):
        assert f"<h2>{heading}</h2>" in page
    assert "x market 95% CI" in page and "half-spread paid" in page
    assert page.index('id="ratio_to_market"') < page.index("<h2>Per symbol-day</h2>")


def test_per_day_panels_are_titled_by_symbol_day_and_coinciding_lines_stay_visible(
    result: TcaResult,
) -> None:
    days = {f"{r.symbol} {r.day}" for r in result.corpus().days}
    drawn = {c.name: c.figure for c in charts(result)}
    for name in ("cost_by_minute", "completion_by_minute", "cost_distribution"):
        assert {ax.get_title() for ax in drawn[name].axes} == days
    # Completion is often 100% for every policy: each line is drawn thinner than the one
    # under it, so none hides another.
    for ax in drawn["completion_by_minute"].axes:
        widths = [line.get_linewidth() for line in ax.get_lines()]
        sizes = [line.get_markersize() for line in ax.get_lines()]
        assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths)
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
