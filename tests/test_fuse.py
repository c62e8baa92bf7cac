"""`vidjil fuse` and `vidjil report` on small hand-made samples (expected values
worked out by hand), on mixed .vidjil and AIRR inputs, on bad inputs, and the
report in headless Chromium."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

import airr
import pytest
from helpers import run_vidjil as run
from helpers import shared_path

from vidjil.fuse import diversity_of, overlaps

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
    fused = fuse(tmp_path, s1, s2, extra=("--top", "2"))
    assert fused["samples"]["number"] == 2 and fused["samples"]["original_names"] == ["s1", "s2"]
    assert fused["reads"]["segmented"] == [160, 220] and fused["reads"]["total"] == [170, 230]
    # Followed: top 2 of s1 (A, B) and of s2 (B, D), by their largest fraction:
    # B 200/220, A 100/160, D 20/220. C (10 reads, s1 only, not in a top 2) is not.
    assert [(c["id"], c["reads"], c["top"]) for c in fused["clones"]] == [
        ("B" * 8, [50, 200], 1),
        ("A" * 8, [100, 0], 2),
        ("D" * 8, [0, 20], 3),
    ]
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
        writer.writerow(["sequence_id", "sequence", "locus", "junction", "junction_aa", "duplicate_count", "v_call"])
        writer.writerow(["r1", "GGG" + JUNCTION_X, "IGH", JUNCTION_X, "CARDYW", "25", "IGHV3-23*01"])
        writer.writerow(["r2", "TTTTTTTTTT", "IGK", "TGTCAGCAGTTTGGG", "CQQF", "5", "IGKV1-5*01"])
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
    assert "0 (&lt; 0.3%)" in page  # clone A in fu-2: below the limit, not 0%


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
    assert page.locator("[id^=vj-].js-plotly-plot").count() == 1
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
