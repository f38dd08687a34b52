"""The HTML report: self-contained (nothing loaded from anywhere), rendered in headless
Chromium with no console errors and every chart drawn; small cells suppressed; bad input
is one clear line and exit code 2."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import polars as pl
import pytest

from engine.cli import main
from engine.simulation.run import write_run
from tests.helpers import GOOD_MEASURE as GOOD
from tests.helpers import TOY_PROFILE, write_experiment, write_sensitivity
from tests.interface import cdp


@pytest.fixture(scope="module")
def folders(tmp_path_factory, toy_run):
    out = tmp_path_factory.mktemp("rep") / "out"
    exp = write_experiment(out, "exp", toy_run, seeds=(1, 2, 3))
    sens = write_sensitivity(out, "sens", toy_run)
    run = write_run(toy_run, out, "base")
    return {"exp": exp, "sens": sens, "run": run, "out": out}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    measure = out.parent / "measure.toml"
    measure.write_text(GOOD)
    common = [
        "--profile",
        TOY_PROFILE,
        "--months",
        "24",
        "--out",
        str(out),
        "--catalog",
        "off",
        "--quiet",
    ]
    assert main(["run", *common, "--run-id", "base"]) == 0
    assert main(["run", *common, "--run-id", "cap", "--measure", str(measure)]) == 0
    assert main(["compare", "base", "cap", "--out", str(out), "--catalog", "off", "--quiet"]) == 0
    return out / "compare-base--cap"


@pytest.fixture(scope="module")
def reports(folders, comparison, tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    paths = {}
    for name, ref in (
        ("exp", folders["exp"]),
        ("run", folders["run"]),
        ("sens", folders["sens"]),
        ("cmp", comparison),
    ):
        paths[name] = d / f"{name}.html"
        assert main(["report", str(ref), "--out", str(paths[name]), "--quiet"]) == 0
    return paths


def test_the_report_is_self_contained(reports):
    for name, path in reports.items():
        text = path.read_text(encoding="utf-8")
        assert "<script" not in text.lower(), name
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I), name
        assert "<link" not in text.lower(), name
        assert "@import" not in text, name
        assert "url(" not in text, name
        assert "default-src 'none'" in text  # and the page forbids loading anything
        assert path.stat().st_size < 400_000, (name, path.stat().st_size)


def test_the_experiment_report_shows_every_item(reports, folders):
    text = reports["exp"].read_text(encoding="utf-8")
    for h in (
        "Savings per measure",
        "Cost per product over time",
        "Caseload per domain and client group",
        "People affected per measure",
        "Sensitivity",
        "Assumptions",
        "What ran",
    ):
        assert f"<h2>{h}</h2>" in text, h
    assert "whiskers the 5-95% range" in text
    assert (
        text.count('aria-label="Youth weekly ceiling EUR 4,000: sensitivity of the saving"') == 0
    )  # labels carry the number
    assert (
        "4 Youth weekly ceiling EUR 4,000: sensitivity of the saving" in text
    )  # the tornado was found beside the experiment
    assert "&lt;10" in text  # suppressed cells


def test_small_cells_are_never_shown(reports, folders):
    """No client count under 10 appears in the people-affected table: each is '<10'."""
    import polars as pl

    text = reports["exp"].read_text(encoding="utf-8")
    table = text.split("<h2>People affected per measure</h2>")[1].split("</section>")[0]
    cells = re.findall(r'<td class="n">([^<]*)</td>', table)
    assert cells
    assert all(c == "&lt;10" or int(c.replace(",", "")) >= 10 for c in cells)
    aff = pl.read_parquet(folders["exp"] / "affected.parquet")
    assert (aff["clients"] < 10).any()  # the fixture has small cells to suppress


def test_run_and_comparison_reports(reports):
    run = reports["run"].read_text(encoding="utf-8")
    for h in (
        "Clients and cost per budget year",
        "Cost per product over time",
        "Caseload per domain and client group",
        "What ran",
    ):
        assert f"<h2>{h}</h2>" in run, h
    cmp_ = reports["cmp"].read_text(encoding="utf-8")
    for h in (
        "Savings per budget year",
        "Cost per product over time",
        "People affected per measure",
    ):
        assert f"<h2>{h}</h2>" in cmp_, h
    assert "<h2>Sensitivity</h2>" in reports["sens"].read_text(encoding="utf-8")


def _need_chromium():
    cdp.need_chromium()


def test_reports_render_in_headless_chromium_with_every_chart_drawn(reports, tmp_path):
    _need_chromium()
    with cdp.Page() as page:
        for name, path in reports.items():
            page.open(path.resolve().as_uri())
            assert page.errors() == [], (name, page.errors())
            external = [
                u for u in page.requests() if not u.startswith(("file:", "data:", "about:"))
            ]
            assert external == [], (name, external)
            charts = page.evaluate(cdp.CHARTS_JS)
            assert charts, name
            for c in charts:
                assert c["width"] > 100, (name, c)
                assert c["height"] > 50, (name, c)
                assert c["marks"] > 0, (name, c)
                assert c["drawn"] == c["marks"], (name, c)
                assert c["paths_rects"] > 0, (name, c)
            assert page.evaluate("document.querySelectorAll('svg.chart').length") == reports[
                name
            ].read_text().count('<svg class="chart"')
        if os.environ.get("CASELOAD_SCREENSHOTS"):
            out = Path(os.environ["CASELOAD_SCREENSHOTS"])
            out.mkdir(parents=True, exist_ok=True)
            for name, path in reports.items():
                page.open(path.resolve().as_uri())
                page.screenshot(out / f"{name}.png")


def test_the_browser_check_sees_errors_and_requests(tmp_path):
    """The negative control: a page that loads something and throws is caught."""
    _need_chromium()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><html><body><img "
        'src="http://127.0.0.1:9/x.png"><script>console.error("boom"); '
        "undefined_function();</script></body></html>"
    )
    with cdp.Page() as page:
        page.open(bad.resolve().as_uri())
        errors = page.errors()
        assert any("boom" in e for e in errors), errors
        assert any(e.startswith("exception") for e in errors), errors
        assert any(u.startswith("http://127.0.0.1:9/") for u in page.requests())


PROBE = (
    '<img src="http://127.0.0.1:9/img.png"><link rel="stylesheet" href="http://127.0.0.1:9/s.css">'
    '<script src="http://127.0.0.1:9/s.js"></script><iframe src="http://127.0.0.1:9/f"></iframe>'
    '<script>window.inline_ran = true; fetch("http://127.0.0.1:9/fetch").catch(() => 0);</script>'
)


def test_the_report_csp_blocks_everything_a_page_tries_to_load(reports, tmp_path):
    """The report's own Content-Security-Policy, exercised: the report with a probe that tries
    to load an image, a style sheet, a script, a frame and to run an inline script and a fetch.
    Under the report's CSP nothing is requested and no script runs; the same probe without
    the CSP meta tag shows the check would see them."""
    _need_chromium()
    html = reports["run"].read_text(encoding="utf-8")
    assert html.count('http-equiv="Content-Security-Policy"') == 1
    with_csp = tmp_path / "probe.html"
    with_csp.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    head, rest = html.split('<meta http-equiv="Content-Security-Policy"', 1)
    without = tmp_path / "probe-no-csp.html"
    without.write_text(head + rest.split(">", 1)[1].replace("</body>", PROBE + "</body>"))
    probe = "http://127.0.0.1:9/"
    with cdp.Page() as page:
        page.open(with_csp.resolve().as_uri())
        time.sleep(0.5)  # let the page try everything it can
        page.evaluate("1")
        tried = {u for u in page.requests() if u.startswith(probe)}
        blocked = page.blocked()
        ran = page.evaluate("window.inline_ran === true")
        page.open(without.resolve().as_uri())
        time.sleep(0.5)
        page.evaluate("1")
        control = {u for u in page.requests() if u.startswith(probe)}
        control_blocked = page.blocked()
        control_ran = page.evaluate("window.inline_ran === true")
    # under the CSP every load the probe tried was stopped by the CSP, and no script ran
    assert len(tried) >= 3, tried
    assert all(blocked.get(u) == "csp" for u in tried), (tried, blocked)
    assert ran is False
    # without it the same probe goes out (refused by the closed port, not by a policy)
    assert {probe + p for p in ("img.png", "s.css", "s.js", "f", "fetch")} <= control
    assert not any(v == "csp" for v in control_blocked.values())
    assert control_ran is True


def test_small_cells_draw_no_bar_in_the_people_affected_chart(reports, folders):
    """Recomputed from the experiment's affected.parquet (mean over seeds, per measure, group
    and kind): every cell of 10 clients or more is a bar carrying its value, no bar is under
    10, and the cells under 10 (there are some) show as '<10' instead."""
    html = reports["exp"].read_text(encoding="utf-8")
    section = html.split("<h2>People affected per measure</h2>")[1].split("<h2>")[0]
    marks = re.findall(r'class="mark"[^>]*>(?:<[^>]*>)*?<title>([^<]*)</title>', section)
    drawn = set()
    for title in marks:
        name, rest = title.split(", ", 1)
        part, value = rest.rsplit(": ", 1)
        drawn.add((name, part, int(value.replace(",", ""))))
    cells = (
        pl.read_parquet(folders["exp"] / "affected.parquet")
        .group_by("measure", "group", "kind")
        .agg((pl.col("clients").sum() / pl.col("seed").n_unique()).alias("mean"))
    )
    big = {(g, k.replace("_", " "), round(m)) for _, g, k, m in cells.iter_rows() if round(m) >= 10}
    small = [m for m in cells["mean"].to_list() if 0 < round(m) < 10]
    assert small  # the toy experiment has cells to suppress
    assert all(v >= 10 for _, _, v in drawn), drawn
    assert drawn == big
    assert section.count("&lt;10") >= 1


def test_report_json_summary(folders, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert (
        main(["report", "exp", "--runs-dir", str(folders["out"]), "--out", str(out), "--json"]) == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "experiment"
    assert info["charts"] >= 8
    assert info["bytes"] == out.stat().st_size
    assert "Savings per measure" in info["sections"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "no-such-run", "--out", "r.html"], "no-such-run: unknown run id or folder"),
        (["report", "{exp}", "--out", "r.pdf"], "a file name ending in .html"),
        (["report", "{broken}", "--out", "r.html"], "the run folder is missing summary.parquet"),
        (
            ["report", "{exp}", "--sensitivity", "{run}", "--out", "r.html"],
            "a run folder (expected a folder of kind sensitivity)",
        ),
    ],
)
def test_bad_report_input_is_one_line_and_exit_2(
    folders, tmp_path, capsys, monkeypatch, args, message
):
    broken = tmp_path / "broken"
    shutil.copytree(folders["run"], broken)
    (broken / "summary.parquet").unlink()
    monkeypatch.chdir(tmp_path)
    args = [a.format(exp=folders["exp"], broken=broken, run=folders["run"]) for a in args]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.html").exists()
