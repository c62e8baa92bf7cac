"""`vidjil fuse` and `vidjil report` on small hand-made samples (expected values
worked out by hand), on mixed .vidjil and AIRR inputs, on bad inputs, with a sample
sheet and a set, and the report in headless Chromium (hand-made, the demo's patient
P1 and the reference's fused file)."""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import airr
import pytest
from helpers import DEMO_SAMPLES, leukemic_junction, shared_path
from helpers import run_vidjil as run

import vidjil
from vidjil.fuse import diversity_of, overlaps
from vidjil.mrd import format_percent

JUNCTION_X = "TGTGCGAGAGATTACTGG"


def clone(window: str, reads: int, system: str = "IGH", junction: str = "", **extra: Any) -> dict[str, Any]:
    """A clone of a single-sample .vidjil; its sequence holds the junction."""
    record: dict[str, Any] = {"id": window, "reads": [reads], "germline": system, "sequence": window + junction}
    if junction:
        start = len(window) + 1
        record["seg"] = {
            "5": {"name": "IGHV3-23*01"},
            "3": {"name": "IGHJ4*02"},
            "junction": {"start": start, "stop": start + len(junction) - 1, "aa": "CARDYW", "productive": True},
        }
    return record | extra


def sample(path: Path, name: str, segmented: int, clones: list[dict[str, Any]], compress: bool = False) -> Path:
    doc = {
        "vidjil_json_version": "2016b",
        "samples": {"number": 1, "original_names": [name]},
        "reads": {"total": [segmented + 10], "segmented": [segmented], "germline": {"IGH": [segmented]}},
        "diversity": {"_by_system": [{"IGH": diversity_of([c["reads"][0] for c in clones])}]},
        "clones": clones,
    }
    text = json.dumps(doc)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def fuse(tmp_path: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out = tmp_path / "fused.vidjil"
    result = run("fuse", *map(str, inputs), "-o", str(out), *extra)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(out.read_text()))


def test_hand_checked_arrays_and_a_clone_absent_from_a_sample(tmp_path: Path) -> None:
    s1 = sample(tmp_path / "s1.vidjil", "s1", 160, [clone("A" * 8, 100), clone("B" * 8, 50), clone("C" * 8, 10)])
    s2 = sample(tmp_path / "s2.vidjil.gz", "s2", 220, [clone("B" * 8, 200), clone("D" * 8, 20)], compress=True)
    fused = fuse(tmp_path, s1, s2, extra=("--top", "2", "--marker-fraction", "0.5"))
    assert fused["samples"]["number"] == 2 and fused["samples"]["original_names"] == ["s1", "s2"]
    assert fused["reads"]["segmented"] == [160, 220] and fused["reads"]["total"] == [170, 230]
    # Followed: top 2 of s1 (A, B) and of s2 (B, D), by their largest fraction:
    # B 200/220, A 100/160, D 20/220. C (10 reads, s1 only, not in a top 2, and
    # 6.25% of IGH at diagnosis, under --marker-fraction 0.5) is not.
    assert [(c["id"], c["reads"], c["top"]) for c in fused["clones"]] == [
        ("B" * 8, [50, 200], 1),
        ("A" * 8, [100, 0], 2),
        ("D" * 8, [0, 20], 3),
    ]
    # With the default 5%, C is a marker candidate: followed whatever its rank.
    default = fuse(tmp_path, s1, s2, extra=("--top", "2"))
    assert [(c["id"], c["reads"]) for c in default["clones"]][-1] == ("C" * 8, [10, 0])
    # Markers by their share at diagnosis: A 100/160, B 50/160, C 10/160.
    assert [m["top"] for m in default["_mrd"]["markers"]] == [2, 1, 4]
    a = fused["clones"][1]["_mrd"]
    assert a["fraction_detected"] == [100 / 160, 0.0]
    assert a["fraction_total"] == [100 / 170, 0.0]
    assert a["limit_of_detection"] == [3 / 160, 3 / 220]
    assert a["below_limit"] == [False, True]
    # C is 10/160 = 6.25% of s1: the 1% decade of the clones not followed.
    assert fused["reads"]["_others"] == [[{"min_fraction": 0.01, "clones": 1, "reads": 10}], []]


def test_a_shifted_window_is_the_same_clone(tmp_path: Path) -> None:
    s1 = sample(tmp_path / "s1.vidjil", "s1", 100, [clone("ACGTACGTAC", 60, junction=JUNCTION_X)])
    s2 = sample(tmp_path / "s2.vidjil", "s2", 100, [clone("CGTACGTACG", 30, junction=JUNCTION_X)])
    fused = fuse(tmp_path, s1, s2)
    assert [(c["id"], c["reads"]) for c in fused["clones"]] == [("ACGTACGTAC", [60, 30])]


def test_w81_w82_when_samples_disagree(tmp_path: Path) -> None:
    unproductive = {"junction": {"start": 9, "stop": 26, "aa": "CAR#DYW", "productive": False}}
    s1 = sample(tmp_path / "s1.vidjil", "s1", 100, [clone("A" * 8, 60, junction=JUNCTION_X, name="IGHV1 1//2 IGHJ4")])
    s2 = sample(
        tmp_path / "s2.vidjil",
        "s2",
        100,
        [clone("A" * 8, 40, junction=JUNCTION_X, name="IGHV3 1//2 IGHJ4", seg=unproductive)],
    )
    fused = fuse(tmp_path, s1, s2)
    codes = [w["code"] for w in fused["clones"][0]["warn"]]
    assert codes == ["W81", "W82"]


def test_vidjil_and_airr_inputs_mix(tmp_path: Path) -> None:
    s1 = sample(tmp_path / "s1.vidjil", "s1", 100, [clone("ACGTACGTAC", 70, junction=JUNCTION_X)])
    tsv = tmp_path / "s2.airr.tsv"
    with open(tsv, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        header = ["sequence_id", "sequence", "locus", "junction", "junction_aa", "duplicate_count", "v_call", "j_call"]
        writer.writerow(header)
        writer.writerow(["r1", "GGG" + JUNCTION_X, "IGH", JUNCTION_X, "CARDYW", "25", "IGHV3-23*01", "IGHJ4*02"])
        writer.writerow(["r2", "TTTTTTTTTT", "IGK", "TGTCAGCAGTTTGGG", "CQQF", "5", "IGKV1-5*01", "IGKJ1*01"])
    out = tmp_path / "fused.vidjil"
    result = run("fuse", str(s1), str(tsv), "-o", str(out), "--airr", str(tmp_path / "f.airr.tsv"))
    assert result.returncode == 0, result.stderr
    fused = json.loads(out.read_text())
    assert fused["samples"]["original_names"] == ["s1", "s2"]
    assert fused["reads"]["segmented"] == [100, 30]
    by_id = {c["id"]: c["reads"] for c in fused["clones"]}
    assert by_id["ACGTACGTAC"] == [70, 25]
    assert by_id["IGK:TGTCAGCAGTTTGGG"] == [0, 5]
    assert airr.validate_rearrangement(str(tmp_path / "f.airr.tsv"))
    rows = list(airr.read_rearrangement(str(tmp_path / "f.airr.tsv")))
    shared = [r for r in rows if r["vidjil_window"] == "ACGTACGTAC"]
    assert {r["repertoire_id"] for r in shared} == {"s1", "s2"} and len({r["clone_id"] for r in shared}) == 1


def test_diversity_and_overlap_by_hand(tmp_path: Path) -> None:
    d = diversity_of([1, 1, 2, 4])
    shannon = -(2 * (1 / 8) * math.log(1 / 8) + (2 / 8) * math.log(2 / 8) + (4 / 8) * math.log(4 / 8))
    assert d["shannon"] == pytest.approx(shannon) and d["shannon"] == pytest.approx(1.2130, abs=1e-4)
    assert d["evenness"] == pytest.approx(shannon / math.log(4))
    assert d["simpson"] == pytest.approx(1 - 14 / 56)
    assert d["chao1"] == pytest.approx(4 + 2 * 1 / (2 * 2))
    o = overlaps({"x": 2, "y": 2}, {"x": 2, "z": 2})
    assert o["morisita_horn"] == pytest.approx(0.5) and o["jaccard"] == pytest.approx(1 / 3)
    s1 = sample(tmp_path / "s1.vidjil", "s1", 8, [clone(w * 8, n) for w, n in zip("ABCD", [4, 2, 1, 1], strict=True)])
    s2 = sample(tmp_path / "s2.vidjil", "s2", 8, [clone("A" * 8, 4), clone("E" * 8, 4)])
    tsv = tmp_path / "div.tsv"
    fused = fuse(tmp_path, s1, s2, extra=("--diversity", str(tsv)))
    assert fused["diversity"]["index_H_entropy"][0] == pytest.approx(shannon)
    assert fused["diversity"]["_by_system"][0]["IGH"]["clonality"] == pytest.approx(1 - shannon / math.log(4))
    (pair,) = fused["diversity"]["_overlap"]
    # shared clone A: 4 and 4 reads of 8; D = (16+4+1+1)/64 and (16+16)/64
    assert pair["jaccard"] == pytest.approx(1 / 5)
    assert pair["morisita_horn"] == pytest.approx(2 * 16 / ((22 / 64 + 32 / 64) * 64))
    rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert rows[0] == ["sample", "locus", "index", "value", "other_sample"]
    assert ["s1", "IGH", "chao1", "4.5", ""] in rows
    assert any(r[:3] == ["s1", "all", "jaccard"] and r[4] == "s2" for r in rows)


def test_spike_in_normalisation(tmp_path: Path) -> None:
    spike = "GATTACA" * 4
    s1 = sample(tmp_path / "s1.vidjil", "s1", 200, [clone(spike[:10], 100), clone("A" * 8, 50)])
    s2 = sample(tmp_path / "s2.vidjil", "s2", 200, [clone(spike[:10], 50), clone("A" * 8, 50)])
    fused = fuse(tmp_path, s1, s2, extra=("--spike", spike, "--spike-copies", "1000"))
    a = next(c for c in fused["clones"] if c["id"] == "A" * 8)
    # 50 reads for 100 spike reads (1000 copies), then for 50 spike reads.
    assert a["_mrd"]["spike_normalised_copies"] == [500.0, 1000.0]
    # The report's MRD summary: A (25% of IGH) is the only marker, the spike-in (50%) is not one.
    html = tmp_path / "report.html"
    assert run("report", str(tmp_path / "fused.vidjil"), "-o", str(html)).returncode == 0
    page = html.read_text()
    assert page.count("scope=colgroup title=") == 1 and f"href='#clone-{a['top']}'>★ #{a['top']}</a>" in page
    assert "<th>spike-normalised copies</th>" in page
    assert "<td class=spike>500</td>" in page and "<td class=spike>1000</td>" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable .vidjil"),
        (b'{"clones": 3}', "not a .vidjil document"),
        (b"\x1f\x8b\x08garbage", "unreadable"),
    ],
)
def test_bad_input_gives_an_error_and_no_output(tmp_path: Path, content: bytes, message: str) -> None:
    good = sample(tmp_path / "good.vidjil", "good", 10, [clone("A" * 8, 10)])
    bad = tmp_path / "bad.vidjil"
    bad.write_bytes(content)
    out = tmp_path / "out" / "fused.vidjil"
    result = run("fuse", str(good), str(bad), "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(bad) in result.stderr and message in result.stderr
    assert not out.exists() and not (out.parent.exists() and any(out.parent.iterdir()))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    names = ["dx <b>1</b>", "fu-1", "fu-2"]
    samples = [
        sample(tmp / f"s{k}.vidjil", name, 1000, [clone("A" * 8, a, junction=JUNCTION_X), clone("B" * 8, 100)])
        for k, (name, a) in enumerate(zip(names, [500, 20, 0], strict=True))
    ]
    fused = tmp / "set.fused.vidjil"
    assert run("fuse", *map(str, samples), "-o", str(fused)).returncode == 0
    html = tmp / "set.report.html"
    result = run("report", str(fused), "-o", str(html), "--title", "set <script>alert(1)</script>")
    assert result.returncode == 0, result.stderr
    return html


def test_report_is_self_contained_and_escaped(report: Path) -> None:
    page = report.read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "dx &lt;b&gt;1&lt;/b&gt;" in page and "<b>1</b>" not in page
    assert "cdn" not in page.lower().split("<script>")[0] and 'src="http' not in page
    assert "0 (&lt; 0.30%)" in page  # clone A in fu-2: below the limit (3 / 1,000 IGH reads), not 0%


def test_report_without_marker_clone_says_so(tmp_path: Path) -> None:
    # 4 reads of 100 IGH reads: 4%, under the 5% of a marker clone.
    s1 = sample(tmp_path / "s1.vidjil", "s1", 100, [clone(w * 8, 4) for w in "ABC"])
    s2 = sample(tmp_path / "s2.vidjil", "s2", 100, [clone("A" * 8, 1)])
    fuse(tmp_path, s1, s2)
    html = tmp_path / "report.html"
    assert run("report", str(tmp_path / "fused.vidjil"), "-o", str(html)).returncode == 0
    page = html.read_text()
    assert "<p id=mrd-none>No marker clone" in page and "<table id=mrd-summary" not in page


def test_report_opens_in_chromium_and_draws_the_plot(report: Path, browser: Any) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri())
    page.wait_for_selector("#curves .main-svg")
    # two followed clones + the detection limit
    assert page.evaluate("document.getElementById('curves').data.length") == 3
    assert page.locator(".vj-heatmap.js-plotly-plot").count() == 1
    page.screenshot(path=str(report.with_suffix(".png")))
    assert errors == []
    assert requests and all(url.startswith("file://") for url in requests), requests
    page.close()


def test_fused_shape_matches_the_reference_fused_file(tmp_path: Path) -> None:
    reference = json.loads(shared_path("formats", "fused_multiple.vidjil").read_text())
    s1 = sample(tmp_path / "s1.vidjil", "s1", 160, [clone("A" * 8, 100, junction=JUNCTION_X)])
    s2 = sample(tmp_path / "s2.vidjil", "s2", 220, [clone("A" * 8, 20, junction=JUNCTION_X)])
    ours = fuse(tmp_path, s1, s2)
    for key in ("samples", "reads", "clones", "germlines", "vidjil_json_version", "diversity"):
        assert type(ours[key]) is type(reference[key]), key
    for key in ("number", "original_names", "commandline", "log", "producer", "run_timestamp"):
        assert type(ours["samples"][key]) is type(reference["samples"][key]), key
        if isinstance(reference["samples"][key], list):
            assert len(ours["samples"][key]) == ours["samples"]["number"], key
    for key in ("total", "segmented", "germline"):
        assert type(ours["reads"][key]) is type(reference["reads"][key]), key
    for key in ("reads", "germline", "id", "sequence", "top", "seg"):
        assert type(ours["clones"][0][key]) is type(reference["clones"][0][key]), key
    assert len(ours["clones"][0]["reads"]) == 2


# Sample sheet and set: recorded where the reference web client reads them.


def sheet_samples(tmp_path: Path) -> list[Path]:
    """Two inputs: one named by its sample name, one only by its file name."""
    return [
        sample(tmp_path / "s1.vidjil", "dx", 100, [clone("A" * 8, 60)]),
        sample(tmp_path / "fu.vidjil", "renamed-by-detect", 100, [clone("A" * 8, 6)]),
    ]


def test_sample_sheet_and_set_values_in_the_fused_file(tmp_path: Path) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(
        "# the workflow's sheet: other columns are ignored, rows in any order\n"
        "sample\treads\tdate\tinfo\n"
        "fu\tfu.fastq\t2026-03-02\tafter <b>induction</b>\n"
        "other\to.fastq\t\t\n"
        "dx\tdx.fastq\t2026-01-12\tdiagnosis, B-ALL\n"
    )
    options = ("--samples-sheet", str(sheet), "--set-name", "P1", "--set-type", "patient")
    fused = fuse(tmp_path, *sheet_samples(tmp_path), extra=(*options, "--set-info", "demo", "--analysis", "multi"))
    assert fused["samples"]["names"] == ["dx", "fu"]
    assert fused["samples"]["timestamp"] == ["2026-01-12", "2026-03-02"]
    assert fused["samples"]["info"] == ["diagnosis, B-ALL", "after <b>induction</b>"]
    assert fused["_set"] == {"name": "P1", "type": "patient", "info": "demo", "analysis": "multi"}
    # The report is titled after the set and shows the sheet's values, escaped.
    html = tmp_path / "report.html"
    assert run("report", str(tmp_path / "fused.vidjil"), "-o", str(html)).returncode == 0
    page = html.read_text()
    assert "<title>P1 (multi)</title>" in page and "after &lt;b&gt;induction&lt;/b&gt;" in page
    assert "<b>induction" not in page
    # The reference client's tutorial file has the same shapes.
    reference = json.loads(shared_path("formats", "demo_lil_l3_tutorial.vidjil").read_text())["samples"]
    for key in ("names", "timestamp", "info"):
        assert type(fused["samples"][key]) is type(reference[key]) is list
        assert len(fused["samples"][key]) == fused["samples"]["number"]


def test_without_sheet_options_the_fused_file_has_no_sheet_values(tmp_path: Path) -> None:
    fused = fuse(tmp_path, *sheet_samples(tmp_path))
    assert set(fused["samples"]) == {"number", "original_names", "run_timestamp", "producer", "commandline", "log"}
    assert "_set" not in fused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample\tdate\ndx\t2026-01-12\n", "fu.vidjil: sample 'renamed-by-detect' is not in the sample sheet"),
        ("sample\tdate\ndx\t12/01/2026\nfu\t\n", "row 2 (sample 'dx'): date '12/01/2026' is not YYYY-MM-DD"),
        ("name\tdate\ndx\t2026-01-12\n", "not a sample sheet (no 'sample' column)"),
    ],
)
def test_sample_sheet_errors(tmp_path: Path, text: str, message: str) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(text)
    out = tmp_path / "fused.vidjil"
    result = run("fuse", *map(str, sheet_samples(tmp_path)), "-o", str(out), "--samples-sheet", str(sheet))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not out.exists()


# The report of the demo's patient and of the reference's fused file, in Chromium.

SHOTS = Path("/tmp/shots/mrd")
SCIENTIFIC = re.compile(r"\d[eE][-+]?\d")
CONTRAST = """(selector) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const element = document.querySelector(selector);
  const a = lum(getComputedStyle(element).color), b = lum(getComputedStyle(document.body).backgroundColor);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def open_report(browser: Any, path: Path, width: int) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("#curves .main-svg")
    page.wait_for_selector("#heatmaps .main-svg")
    return page, errors


def save_shot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / shot.name)


def expected_cells(reads: int, locus: int, dna_ng: float) -> tuple[str, str]:
    """(value shown, status) by the rule of the README's MRD section, written out again:
    detect lists clones from 5 reads; 6.6 pg of DNA per cell."""
    cells = dna_ng * 1000 / 6.6
    lod, loq = max(5 / locus, 3 / cells), max(10 / locus, 10 / cells)
    if not reads:
        return f"< {format_percent(lod)}", f"negative (< {format_percent(lod)})"
    quantifiable = reads / locus >= loq
    return format_percent(reads / locus), "positive" if quantifiable else "positive, below quantification"


def test_demo_report_mrd_summary_provenance_and_plots(demo: Path, browser: Any, tmp_path: Path) -> None:
    folder = demo / "results" / "multi+inc" / "sets" / "P1"
    fused = json.loads((folder / "P1.fused.vidjil").read_text())
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    germline = fused["reads"]["germline"]
    igh = [a + b for a, b in zip(germline["IGH"], germline["IGH+"], strict=True)]
    page, errors = open_report(browser, folder / "P1.report.html", 800)

    # Provenance: the set and sample sheets of the demo, the tool, the germline, the analysis.
    provenance = page.locator("#provenance").inner_text()
    for text in ("P1 (patient)", "demo patient, leukemic IGH and TRG clones followed from diagnosis", "multi+inc"):
        assert text in provenance
    for text in ("2026-01-12", "diagnosis, B-ALL", "2026-05-18", "after consolidation", "genairr", "generated at"):
        assert text in provenance
    assert f"vidjil-platform {vidjil.__version__}" in provenance

    # MRD summary: one row per sample, the leukemic clone's reads, % of IGH reads and status.
    headings = page.locator("#mrd-summary thead tr:first-child th[scope=colgroup]").all_inner_texts()
    k = next(n for n, h in enumerate(headings) if h.startswith(f"★ #{leukemic['top']} IGH"))
    assert k == 0  # the largest marker: 20% of all reads, more of IGH
    assert "% of IGH detected reads" in page.locator("#mrd-summary thead").inner_text()
    rows = page.locator("#mrd-summary tbody tr")
    assert rows.count() == len(DEMO_SAMPLES)
    table = []
    for i in range(len(DEMO_SAMPLES)):
        row = rows.nth(i)
        reads = int(row.locator("td.reads").nth(k).inner_text().replace(",", ""))
        shown = row.locator("td.percent").nth(k).inner_text()
        status = row.locator("td.status").nth(k).inner_text()
        table.append((row.locator("th").inner_text(), *row.locator("td").all_inner_texts()[:2], reads, shown, status))
    expected = [
        (name, day, days, reads, *expected_cells(reads, n, dna))
        for name, day, days, reads, n, dna in zip(
            DEMO_SAMPLES,
            ["2026-01-12", "2026-03-02", "2026-05-18", "2026-08-17", "2026-11-16"],
            ["0", "49", "126", "217", "308"],
            leukemic["reads"],
            igh,
            [500, 500, 500, 700, 500],
            strict=True,
        )
    ]
    assert table == expected
    assert [t[5].split(" (")[0] for t in table] == [
        "positive",
        "positive",
        "positive, below quantification",
        "negative",
        "positive",
    ]
    assert leukemic["reads"][2] < 10 and table[2][5] == "positive, below quantification"  # 0.01% of 60,000 reads
    assert re.fullmatch(r"\d+(\.\d+)?%", table[2][4]) and len(table[2][4].strip("0.%")) == 2  # two figures

    # The QC table leaves out the columns that are 0 in every sample.
    qc = page.locator("#qc-table thead").inner_text()
    columns = qc.split("\t")
    for system, counts in germline.items():
        assert (system in columns) == any(counts), system
    assert "undetected: too few V/J k-mers" in qc and "too short" not in qc  # most undetected reads; none
    # Axis titles are drawn (plotly.js 3 ignores a plain string title).
    assert page.locator("#curves .g-xtitle").text_content() == "sample date"
    assert "% of the locus's detected reads" in (page.locator("#curves .g-ytitle").text_content() or "")
    assert set(page.locator("#heatmaps .g-xtitle").all_text_contents()) == {"J gene"}
    assert set(page.locator("#heatmaps .g-ytitle").all_text_contents()) == {"V gene"}

    # Readable at 800 px: no horizontal page scroll (wide tables scroll in their box), contrast, plain numbers.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert page.evaluate("getComputedStyle(document.querySelector('#mrd-summary').parentElement).overflowX") == "auto"
    assert page.locator("meta[name=viewport]").count() == 1
    for selector in ("body", "p.note", "#clones td", "#mrd-summary .positive-not-quantifiable"):
        assert page.evaluate(CONTRAST, selector) >= 4.5, selector
    assert not SCIENTIFIC.search(page.locator("body").inner_text())
    save_shot(page, tmp_path, "demo_report_800")

    # A click on a legend entry highlights the clone's row and scrolls it into view.
    page.locator("#curves .legend .traces").first.click()
    row = page.locator(f"#clone-{leukemic['top']}")
    page.wait_for_function(f"document.getElementById('clone-{leukemic['top']}').classList.contains('highlight')")
    assert row.evaluate("r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; }")
    # A heatmap cell's V and J filter the clone table; a button shows every clone again.
    v, j = (leukemic["seg"][side]["name"].split("*")[0] for side in ("5", "3"))
    page.evaluate(
        "([v, j]) => document.dispatchEvent(new CustomEvent('vidjil:vj', {detail: {locus: 'IGH', v: v, j: j}}))",
        [v, j],
    )
    visible = page.locator("#clones tbody tr:visible")
    assert visible.count() >= 1 and row.is_visible()
    assert set(visible.evaluate_all("rows => rows.map(r => r.dataset.v + ' ' + r.dataset.j)")) == {f"{v} {j}"}
    page.locator("#clone-filter-clear").click()
    assert page.locator("#clones tbody tr:visible").count() == len(fused["clones"])
    assert errors == []
    page.set_viewport_size({"width": 1280, "height": 900})
    save_shot(page, tmp_path, "demo_report_1280")
    page.close()


def test_report_of_the_reference_fused_file(browser: Any, tmp_path: Path) -> None:
    """A file fused by the reference Vidjil (no `_mrd`, no dates): values are computed."""
    html = tmp_path / "reference.report.html"
    result = run("report", str(shared_path("formats", "fused_multiple.vidjil")), "-o", str(html))
    assert result.returncode == 0, result.stderr
    page, errors = open_report(browser, html, 800)
    first = page.locator("#mrd-summary tbody tr").first
    # IGH_top_1: 50 of the first sample's 200 IGH reads.
    assert first.locator("th").inner_text() == "file_1.fastq"
    assert (first.locator("td.reads").first.inner_text(), first.locator("td.percent").first.inner_text()) == (
        "50",
        "25%",
    )
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert errors == []
    save_shot(page, tmp_path, "reference_fused_report_800")
    page.close()
