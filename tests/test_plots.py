"""The shared plot code: the data of vidjil/plots.py on small hand-made fused
documents (dates, hollow points at the detection limit, percentages, marker clones,
colours, V x J hover), and vidjil/static/plots.js drawing the demo run's fused P1
file in headless Chromium (axis titles rendered, log axis in %, legend click
highlights without hiding, events for the viewer and the report)."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from vidjil.plots import PALETTE, clone_curves, vj_usage

SHOTS = Path("/tmp/shots/plots")


def clone(top: int, reads: list[int], v: str = "IGHV3-23*01", j: str = "IGHJ4*02", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"W{top}",
        "top": top,
        "name": f"{v} 1/ACG/2 {j}",
        "germline": extra.pop("germline", "IGH"),
        "reads": reads,
        "seg": {"5": {"name": v}, "3": {"name": j}, "junction": {"aa": "CARDYW"}},
    } | extra


def fused_doc(clones: list[dict[str, Any]], segmented: list[int], **samples: Any) -> dict[str, Any]:
    """A fused document as `vidjil fuse` writes it (fractions and limits in `_mrd`)."""
    n = len(segmented)
    lod = [3 / s if s else 1.0 for s in segmented]  # as `vidjil fuse` writes it
    for c in clones:
        c["_mrd"] = {
            "fraction_detected": [r / s if s else 0.0 for r, s in zip(c["reads"], segmented, strict=True)],
            "limit_of_detection": lod,
        }
    return {
        "samples": {"number": n, "original_names": [f"s{k}.vidjil" for k in range(n)], **samples},
        "reads": {"total": segmented, "segmented": segmented, "germline": {"IGH": segmented}},
        "_mrd": {"limit_of_detection_reads": 3},
        "clones": clones,
    }


def clone_traces(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in data["traces"] if t["meta"]["top"] is not None]


def test_sample_dates_give_an_x_axis_in_time_labelled_with_sample_names() -> None:
    names = ["diagnosis", "day 30", "day 180"]
    doc = fused_doc([clone(1, [10, 5, 1])], [1000] * 3, names=names, timestamp=["2026-01-12", "2026-02-11", None])
    undated = clone_curves(doc, markers=[])
    assert undated["traces"][0]["x"] == [0, 1, 2]
    assert undated["layout"]["xaxis"]["ticktext"] == names
    assert undated["layout"]["xaxis"]["title"]["text"] == "sample"

    doc["samples"]["timestamp"][2] = "2026-07-11 10:00:00"
    dated = clone_curves(doc, markers=[])
    assert dated["traces"][0]["x"] == ["2026-01-12", "2026-02-11", "2026-07-11"]
    xaxis = dated["layout"]["xaxis"]
    assert xaxis["type"] == "date" and xaxis["title"]["text"] == "sample date"
    assert xaxis["tickvals"] == dated["traces"][0]["x"]
    assert xaxis["ticktext"][1] == "day 30<br>2026-02-11"
    assert xaxis["range"][0] < "2026-01-12" and xaxis["range"][1] > "2026-07-11"
    assert "day 30 (2026-02-11): 5 reads" in dated["traces"][0]["text"][1]

    doc["samples"]["timestamp"] = ["2026-03-01", "2026-02-01", "2026-04-01"]  # ordered otherwise than by date
    assert clone_curves(doc, markers=[])["traces"][0]["x"] == [0, 1, 2]


def test_a_clone_without_reads_is_a_hollow_point_on_the_detection_limit() -> None:
    doc = fused_doc([clone(1, [500, 20, 0]), clone(2, [100, 0, 7])], [1000, 2000, 60000])
    data = clone_curves(doc, markers=[])
    first, second, limit = data["traces"]
    assert first["marker"]["symbol"] == ["circle", "circle", "circle-open"]
    assert second["marker"]["symbol"] == ["circle", "circle-open", "circle"]
    assert first["y"][2] == pytest.approx(100 * 3 / 60000) == limit["y"][2]
    assert second["y"][1] == pytest.approx(0.15) == limit["y"][1]
    assert "0 reads (< 0.0050%, below the detection limit)" in first["text"][2]
    assert "0 reads (< 0.15%" in second["text"][1]
    assert limit["line"]["dash"] == "dash" and limit["name"] == "IGH detection limit (3 reads)"
    assert limit["meta"]["top"] is None


def test_percentages_in_percent_with_two_significant_figures() -> None:
    doc = fused_doc([clone(1, [3959, 197, 3])], [18999, 38000, 56997])
    trace = clone_curves(doc, markers=[])["traces"][0]
    assert trace["y"] == pytest.approx([100 * 3959 / 18999, 100 * 197 / 38000, 100 * 3 / 56997])
    assert "3,959 reads, 21% of IGH reads" in trace["text"][0]
    assert "197 reads, 0.52% of IGH reads" in trace["text"][1]
    assert "3 reads, 0.0053% of IGH reads" in trace["text"][2]
    assert not any("e-" in t for t in trace["text"])


def test_log_y_axis_from_100_percent_to_the_lowest_limit() -> None:
    data = clone_curves(fused_doc([clone(1, [50, 5])], [1000, 2000]), markers=[])
    yaxis = data["layout"]["yaxis"]
    assert yaxis["type"] == "log" and yaxis["title"] == {"text": "% of the locus's detected reads (log scale)"}
    assert yaxis["ticktext"] == ["100%", "10%", "1%", "0.1%", "0.01%", "0.001%"]
    assert yaxis["range"][0] < -3 and yaxis["range"][1] > 2
    deep = clone_curves(fused_doc([clone(1, [50, 0])], [1000, 10_000_000]), markers=[])["layout"]["yaxis"]
    assert deep["ticktext"][-1] == "0.00001%" and deep["range"][0] < math.log10(100 * 3e-7)


def test_marker_clones_come_first_emphasised_even_beyond_the_first_20() -> None:
    clones = [clone(top, [100 - top, 10]) for top in range(1, 26)]
    doc = fused_doc(clones, [10_000, 10_000])
    traces = clone_traces(clone_curves(doc, markers=[23, clones[1]]))
    assert [t["meta"]["top"] for t in traces] == [23, 2, 1, *range(3, 21)]
    marker, other = traces[0], traces[2]
    assert marker["name"].startswith("★ #23") and not other["name"].startswith("★")
    assert marker["line"]["width"] > other["line"]["width"] and marker["marker"]["size"] > other["marker"]["size"]
    assert marker["meta"] == {"top": 23, "marker": True, "width": marker["line"]["width"]}
    assert "marker clone #23" in marker["text"][0]
    assert marker["customdata"] == [23, 23]
    assert len({t["line"]["color"] for t in traces[:20]}) == 20
    # without `markers`, those of vidjil.mrd (>= 5% of the locus in the first sample)
    default = clone_traces(clone_curves(fused_doc([clone(1, [10, 1]), clone(2, [900, 1])], [1000, 1000])))
    assert [(t["meta"]["top"], t["meta"]["marker"]) for t in default] == [(2, True), (1, False)]


def _channels(colour: str) -> list[int]:
    """'#rrggbb' or 'rgb(r, g, b)'."""
    if colour.startswith("rgb"):
        return [int(float(x)) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
    return [int(colour[k : k + 2], 16) for k in (1, 3, 5)]


def _luminance(colour: str) -> float:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c / 255) for c in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _lab(colour: str) -> tuple[float, float, float]:
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    r, g, b = (linear(int(colour[k : k + 2], 16) / 255) for k in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_20_colours_distinct_and_readable_on_white() -> None:
    assert len(PALETTE) == 20 and len(set(PALETTE)) == 20
    assert all(1.05 / (_luminance(c) + 0.05) >= 3 for c in PALETTE)  # WCAG non-text contrast on white
    assert min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations([*PALETTE, "#000000"], 2)) >= 30


def test_names_from_the_data_are_escaped() -> None:
    doc = fused_doc([clone(1, [5, 0], name="<b>x</b>")], [100, 100], names=["<i>dx</i>", "fu"])
    data = clone_curves(doc, markers=[])
    text = json.dumps(data)
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text
    assert "<i>dx</i>" not in text and data["layout"]["xaxis"]["ticktext"][0] == "&lt;i&gt;dx&lt;/i&gt;"


def test_vj_usage_counts_and_hover() -> None:
    doc = fused_doc(
        [
            clone(1, [30, 10], v="IGHV3-23*01", j="IGHJ4*02"),
            clone(2, [5, 5], v="IGHV3-23*04", j="IGHJ4*01"),
            clone(3, [0, 10], v="IGHV1-2*02", j="IGHJ6*01"),
            clone(4, [7, 0], v="TRGV9*01", j="TRGJP1*01", germline="TRG"),
        ],
        [100, 100],
    )
    grids = vj_usage(doc)
    assert list(grids) == ["IGH", "TRG"]
    igh = grids["IGH"]
    assert igh["x"] == ["IGHJ4", "IGHJ6"] and igh["y"] == ["IGHV1-2", "IGHV3-23"]
    assert igh["z"] == [[0, 10], [50, 0]]
    assert igh["locus_reads"] == 200 and igh["total"] == 60
    assert igh["text"][1][0] == "50 reads, 25% of IGH reads"
    assert igh["text"][0][0] == "0 reads, 0% of IGH reads"
    assert grids["TRG"]["text"] == [["7 reads, 100% of TRG reads"]]  # no TRG count in reads.germline


def test_plots_js_is_package_data() -> None:
    script = files("vidjil") / "static" / "plots.js"
    assert script.is_file()
    text = script.read_text()
    assert "VidjilPlots" in text and "eval(" not in text and "http" not in text


# In Chromium.

GLUE = """
"use strict";
window.events = [];
document.addEventListener("vidjil:clone", (e) => window.events.push(["clone", e.detail]));
document.addEventListener("vidjil:vj", (e) => window.events.push(["vj", e.detail]));
const data = JSON.parse(document.getElementById("data").textContent);
window.drawn = Promise.all([
  VidjilPlots.curves(document.getElementById("curves"), data.curves),
  VidjilPlots.curves(document.getElementById("absent"), data.absent),
  VidjilPlots.heatmaps(document.getElementById("vj"), data.vj, {}),
  VidjilPlots.spectratype(document.getElementById("spectratype"), data.spectratype),
]).then(() => true);
"""


def plot_page(folder: Path, data: dict[str, Any]) -> Path:
    from plotly.offline import get_plotlyjs

    (folder / "plotly.js").write_text(get_plotlyjs())
    (folder / "plots.js").write_text((files("vidjil") / "static" / "plots.js").read_text())
    (folder / "glue.js").write_text(GLUE)
    page = folder / "plots.html"
    block = json.dumps(data).replace("</", "<\\/")
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        "<style>body{font-family:sans-serif;margin:1em}.plot{width:100%;height:30em}</style></head><body>"
        "<h2>Clones over time</h2><div id=curves class=plot></div>"
        "<h2>A clone absent from a sample</h2><div id=absent class=plot></div>"
        "<h2>V x J</h2><div id=vj></div><h2>CDR3 lengths</h2><div id=spectratype class=plot></div>"
        f"<script type=application/json id=data>{block}</script>"
        "<script src=plotly.js></script><script src=plots.js></script><script src=glue.js></script>"
        "</body></html>"
    )
    return page


def shot(page: Any, path: Path, **options: Any) -> None:
    page.screenshot(path=str(path), **options)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


OVERLAPS = """(plot) => {
  const box = (e) => e.getBoundingClientRect();
  const cross = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const found = [];
  let compared = 0;
  for (const axis of ["x", "y"]) {
    const title = plot.querySelector(".g-" + axis + "title text");
    plot.querySelectorAll("." + axis + "tick text").forEach((tick) => {
      compared += 1;
      if (cross(box(title), box(tick))) found.push(axis + ": " + tick.textContent);
    });
  }
  return compared ? found : ["no tick label"];
}"""


@pytest.mark.slow
def test_plots_in_chromium(demo: Path, browser: Any, tmp_path: Path) -> None:
    (fused_path,) = demo.glob("results/*/sets/P1/P1.fused.vidjil")
    fused = json.loads(fused_path.read_text())
    absent = fused_doc([clone(1, [500, 20, 0]), clone(2, [90, 0, 7]), clone(3, [40, 30, 20])], [1000, 2000, 60000])
    spectratype = {"IGH": {"12": 40, "14": 10}}
    page_file = plot_page(
        tmp_path,
        {
            "curves": clone_curves(fused),
            "absent": clone_curves(absent),
            "vj": vj_usage(fused),
            "spectratype": spectratype,
        },
    )
    page = browser.new_page(viewport={"width": 800, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_function("window.drawn && document.querySelectorAll('.vj-heatmap .main-svg').length > 0")
    page.evaluate("window.drawn")

    # axis titles rendered, dates on x (the demo's sample sheet has them), log y in %
    assert page.locator("#curves .g-xtitle").text_content() == "sample date"
    assert page.locator("#curves .g-ytitle").text_content() == "% of the locus's detected reads (log scale)"
    assert page.evaluate("document.getElementById('curves')._fullLayout.xaxis.type") == "date"
    assert page.evaluate("document.getElementById('curves')._fullLayout.yaxis.type") == "log"
    yticks = page.locator("#curves .ytick text").all_text_contents()
    assert "100%" in yticks and "0.001%" in yticks, yticks
    xticks = " ".join(page.locator("#curves .xtick text").all_text_contents())
    assert "P1-diagnosis" in xticks and "2026-01-12" in xticks, xticks
    assert page.locator(".vj-heatmap .g-xtitle").first.text_content() == "J gene"
    assert page.locator(".vj-heatmap .g-ytitle").first.text_content() == "V gene"
    assert page.locator(".vj-heatmap .cbtitle").first.text_content() == "reads"
    assert page.locator("#spectratype .g-xtitle").text_content() == "CDR3 length (aa)"
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    for plot in page.locator(".js-plotly-plot").all():
        assert plot.evaluate(OVERLAPS) == []  # axis titles clear of the tick labels

    # hollow points where a clone has no read, on the detection limit
    symbols = page.evaluate("document.getElementById('absent')._fullData.map(t => t.marker && t.marker.symbol)")
    assert symbols[0] == ["circle", "circle", "circle-open"]
    assert page.locator("#absent .point[d*='M']").count() > 0
    hollow = page.evaluate(
        "[...document.querySelectorAll('#absent .trace.scatter:first-child .point')].map(p => p.style.fill)"
    )
    assert hollow[2] in ("none", "rgba(0, 0, 0, 0)", "transparent") and hollow[0] not in ("none", ""), hollow
    shot(page, tmp_path / "curves-800.png", clip=page.locator("#curves").bounding_box())
    absent_plot = page.locator("#absent")
    absent_plot.scroll_into_view_if_needed()
    point = absent_plot.locator(".trace.scatter").first.locator(".point").nth(2).bounding_box()
    assert point
    page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    hover = absent_plot.locator(".hoverlayer .hovertext")
    hover.wait_for()
    assert "0 reads (< 0.0050%, below the detection limit)" in (hover.text_content() or "")
    shot(page, tmp_path / "curves-hollow.png", clip=absent_plot.bounding_box())
    page.mouse.move(0, 0)

    # a legend click highlights the clone, hides nothing and tells the page
    page.locator("#curves .legend .traces").nth(1).click()
    page.wait_for_function("window.events.length > 0")
    page.wait_for_timeout(500)  # plotly toggles a trace's visibility after its double-click delay (300 ms)
    second_top = clone_curves(fused)["traces"][1]["meta"]["top"]
    assert page.evaluate("window.events") == [["clone", {"top": second_top}]]
    visible = page.evaluate("document.getElementById('curves')._fullData.map(t => t.visible)")
    assert all(v is True for v in visible), visible
    opacity = page.evaluate("document.getElementById('curves')._fullData.map(t => t.opacity)")
    assert opacity[1] == 1 and opacity[0] == pytest.approx(0.15) and opacity[-1] == 1  # the limit stays
    page.locator("#curves").scroll_into_view_if_needed()
    shot(page, tmp_path / "curves-highlight-800.png", clip=page.locator("#curves").bounding_box())
    page.locator("#curves .legend .traces").nth(1).click()
    page.wait_for_function("window.events.length > 1")
    page.wait_for_timeout(500)
    assert page.evaluate("window.events[1]") == ["clone", {"top": None}]
    assert page.evaluate("document.getElementById('curves')._fullData.every(t => t.opacity === 1)")

    # heatmap: light at 0, dark at the maximum; a click on a cell tells the page V and J
    scale = page.evaluate("document.querySelector('.vj-heatmap')._fullData[0].colorscale")
    assert _luminance(scale[0][1]) > 0.9 and _luminance(scale[0][1]) > 4 * _luminance(scale[-1][1])
    igh = vj_usage(fused)["IGH"]
    row, col = max(
        ((i, j) for i in range(len(igh["y"])) for j in range(len(igh["x"]))), key=lambda p: igh["z"][p[0]][p[1]]
    )
    heatmap = page.locator(".vj-heatmap[data-locus=IGH]")
    heatmap.scroll_into_view_if_needed()
    box = heatmap.locator(".nsewdrag").first.bounding_box()
    assert box
    width, height = box["width"] / len(igh["x"]), box["height"] / len(igh["y"])
    # rows from the bottom (first V gene at the bottom of a category axis)
    x, y = box["x"] + (col + 0.5) * width, box["y"] + box["height"] - (row + 0.5) * height
    page.mouse.move(x, y)
    page.wait_for_selector(".vj-heatmap[data-locus=IGH] .hoverlayer .hovertext")
    hover = page.locator(".vj-heatmap[data-locus=IGH] .hoverlayer .hovertext").text_content()
    assert f"{igh['z'][row][col]:,} reads" in hover and "% of IGH reads" in hover, hover
    page.mouse.click(x, y)
    page.wait_for_function("window.events.length > 2")
    assert page.evaluate("window.events[2]") == ["vj", {"locus": "IGH", "v": igh["y"][row], "j": igh["x"][col]}]
    shot(page, tmp_path / "heatmap-igh.png", clip=heatmap.bounding_box())

    # optional log colour scale
    page.locator("#vj input.vj-log").check()
    page.wait_for_function("document.querySelector('.vj-heatmap')._fullData[0].colorbar.title.text === 'reads (log)'")
    shot(page, tmp_path / "heatmap-log.png", clip=heatmap.bounding_box())
    page.set_viewport_size({"width": 1200, "height": 900})
    page.wait_for_timeout(300)
    shot(page, tmp_path / "plots-1200.png", full_page=True)
    page.locator("#curves").scroll_into_view_if_needed()
    shot(page, tmp_path / "curves-1200.png", clip=page.locator("#curves").bounding_box())
    assert errors == []
    page.close()


def test_a_set_without_clones_or_with_one_sample() -> None:
    empty = clone_curves(fused_doc([], [1000, 0]), markers=[])
    assert empty["traces"] == []  # no clone: no locus, hence no detection limit to draw
    assert empty["layout"]["yaxis"]["ticktext"][-1] == "0.001%"
    one = clone_curves(fused_doc([clone(1, [4])], [100], timestamp=["2026-01-12"]), markers=[])
    assert one["traces"][0]["x"] == ["2026-01-12"] and one["layout"]["xaxis"]["range"][0] < "2026-01-12"
    assert vj_usage(fused_doc([], [10])) == {}


def test_a_sample_without_detected_reads_has_no_limit_drawn() -> None:
    data = clone_curves(fused_doc([clone(1, [4, 0])], [100, 0]), markers=[])
    assert data["traces"][0]["y"] == [4.0, None] and data["traces"][-1]["y"] == [3.0, None]
    assert "no IGH read detected in the sample" in data["traces"][0]["text"][1]
