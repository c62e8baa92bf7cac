"""MRD beyond the reference: limits from the reads and the cells analysed,
replicates, marker candidates and their flags, follow-up alerts, the contamination
table of a run, and the demo's follow-up (positive -> not quantifiable ->
negative -> positive again). Expected values are worked out by hand in comments."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from helpers import leukemic_junction, run_vidjil

from vidjil.alerts import follow_up_alerts
from vidjil.mrd import (
    PG_PER_CELL,
    cells_of_dna,
    clinical_summary,
    limits,
    mrd_summary,
    status_of,
    table_rows,
)


def tsv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))


# Limits and statuses, by hand.


def test_cell_equivalents_use_6_6_pg_per_cell() -> None:
    assert PG_PER_CELL == 6.6
    assert cells_of_dna(500) == pytest.approx(75_757.58, abs=0.01)  # 500,000 pg / 6.6 pg
    assert cells_of_dna(1, pg_per_cell=3.3) == pytest.approx(303.03, abs=0.01)  # a haploid genome


def test_limits_are_the_larger_of_the_reads_and_the_cells_rules() -> None:
    # 200,000 IGH reads, 500 ng: reads 3/200,000 = 1.5e-5, cells 3/75,757.6 = 3.96e-5.
    lod, loq = limits(200_000, cells_of_dna(500))
    assert lod == pytest.approx(3.96e-5) and loq == pytest.approx(1.32e-4)  # 10 / 75,757.6
    # Deep DNA, shallow sequencing: the reads decide (3 and 10 / 10,000).
    assert limits(10_000, cells_of_dna(5_000)) == pytest.approx((3e-4, 1e-3))
    # A sample that lists clones from 5 reads (detect -r 5): LoD 5 / 10,000.
    assert limits(10_000, None, listed_from=5) == pytest.approx((5e-4, 1e-3))
    # No DNA given: the reads alone; no reads of the locus: nothing can be seen.
    assert limits(1_000, None) == pytest.approx((3e-3, 1e-2))
    assert limits(0, 1000.0) == (1.0, 1.0)


def test_status_needs_the_loq_of_both_reads_and_cells() -> None:
    cells = cells_of_dna(500)  # 75,757.6
    # 20 reads of 200,000: 1e-4, under the LoQ of the cells (1.32e-4) although 20 >= 10 reads.
    assert status_of(20, 200_000, cells) == "positive-not-quantifiable"
    # 27 reads: 1.35e-4 >= 1.32e-4: quantifiable.
    assert status_of(27, 200_000, cells) == "positive"
    assert status_of(9, 1_000, None) == "positive-not-quantifiable" and status_of(10, 1_000, None) == "positive"
    assert status_of(0, 1_000, None) == "negative"


# A fused document by hand: IGH reads per sample and the marker's reads.


def followup_doc(marker: list[int], igh: list[int], **samples: Any) -> dict[str, Any]:
    n = len(marker)
    return {
        "samples": {"number": n, "original_names": [f"s{i}" for i in range(n)], **samples},
        "reads": {"total": igh, "segmented": igh, "germline": {"IGH": igh}},
        "clones": [
            {"id": "M", "top": 1, "germline": "IGH", "name": "IGHV3-23*01 IGHJ4*02", "reads": marker},
            {"id": "B", "top": 2, "germline": "IGH", "reads": [10] * n},
        ],
        "_mrd": {"markers": [{"top": 1}]},
    }


def test_replicates_are_pooled_for_the_status_and_listed_apart() -> None:
    doc = followup_doc(
        [500, 6, 5],
        [10_000, 10_000, 10_000],
        names=["dx", "fu-a", "fu-b"],
        _replicate=["", "fu", "fu"],
        _cell_equivalents=[None, 50_000, 50_000],
    )
    rows = table_rows(mrd_summary(doc))
    assert [(r["sample"], r["pooled"]) for r in rows] == [("dx", False), ("fu-a", False), ("fu-b", False), ("fu", True)]
    a, b, pooled = (r["markers"][0] for r in rows[1:])
    # Each library: 6 and 5 reads < 10: not quantifiable.
    assert (a["status"], b["status"]) == ("positive-not-quantifiable", "positive-not-quantifiable")
    # Pooled: 11 reads of 20,000 = 5.5e-4; LoQ max(10/20,000, 10/100,000) = 5e-4: quantifiable.
    assert (pooled["reads"], pooled["locus_reads"], pooled["cell_equivalents"]) == (11, 20_000, 100_000)
    assert pooled["fraction"] == pytest.approx(5.5e-4) and pooled["loq"] == pytest.approx(5e-4)
    assert pooled["status"] == "positive"
    assert [r["sample"] for r in clinical_summary(mrd_summary(doc))] == ["dx", "fu"]


@pytest.mark.parametrize(
    ("marker", "igh", "code", "where"),
    [
        # 0.1% -> 2%: 20x between consecutive samples.
        ([100, 10, 200], [10_000] * 3, "W90", 2),
        # Negative, then 5 reads.
        ([100, 0, 5], [10_000] * 3, "W91", 2),
        # 1% quantifiable, then 2 reads of 500: LoQ 10/500 = 2% is above 1%.
        ([100, 100, 2], [10_000, 10_000, 500], "W92", 2),
    ],
)
def test_each_marker_alert_fires_on_its_case(marker: list[int], igh: list[int], code: str, where: int) -> None:
    doc = followup_doc(marker, igh)
    alerts = follow_up_alerts(doc, [doc["clones"][0]])
    assert [(a["code"], a["sample"], a["clone"]) for a in alerts] == [(code, f"s{where}", 1)]
    assert alerts[0]["message"].startswith("clone 1 (IGHV3-23*01 IGHJ4*02): ")  # no seg: its designation


def test_no_marker_alert_on_a_steady_fall_or_a_stable_clone() -> None:
    # 1% -> 0.1% -> 0.01% with LoQ 0.01% (100,000 reads): falling, quantifiable, no alert.
    doc = followup_doc([100, 100, 10], [10_000, 100_000, 100_000])
    assert follow_up_alerts(doc, [doc["clones"][0]]) == []
    # A fall to not quantifiable in a sample as sensitive as the last: a response, no W92.
    doc = followup_doc([100, 5, 0], [10_000, 10_000, 10_000])
    assert follow_up_alerts(doc, [doc["clones"][0]]) == []


def test_a_new_clone_absent_at_diagnosis_raises_w93_once() -> None:
    doc = followup_doc([100, 100, 100], [1_000, 1_000, 1_000])
    doc["clones"].append({"id": "N", "top": 3, "germline": "IGH", "reads": [0, 60, 80]})  # 6%, then 8%
    doc["clones"].append({"id": "S", "top": 4, "germline": "IGH", "reads": [1, 60, 80]})  # at diagnosis: 1 read
    alerts = follow_up_alerts(doc, [doc["clones"][0]], new_clone_fraction=0.05)
    assert [(a["code"], a["sample"], a["clone"]) for a in alerts] == [("W93", "s1", 3)]
    assert "6.0% of IGH in s1, absent at diagnosis (s0)" in alerts[0]["message"]


# Through `vidjil fuse`: sheets, listed markers, tables.


def sample_doc(path: Path, name: str, igh: int, clones: list[tuple[str, str, int]]) -> Path:
    """A one-sample .vidjil: clones (window, junction, reads) of IGH, the junction in
    the middle of the sequence, designated IGHV1-2 / IGHJ4."""
    entries = []
    for window, junction, reads in clones:
        sequence = "ACGT" * 5 + junction + "TGCA" * 5
        entries.append(
            {
                "id": window,
                "germline": "IGH",
                "sequence": sequence,
                "reads": [reads],
                "name": f"IGHV1-2*02 {window} IGHJ4*02",
                "seg": {
                    "5": {"name": "IGHV1-2*02"},
                    "3": {"name": "IGHJ4*02"},
                    "junction": {"start": 21, "stop": 20 + len(junction), "aa": "CAR", "productive": True},
                },
            }
        )
    doc = {
        "samples": {"number": 1, "original_names": [name], "_min_reads": [1]},
        "reads": {"total": [igh], "segmented": [igh], "germline": {"IGH": [igh]}},
        "clones": entries,
    }
    path.write_text(json.dumps(doc))
    return path


LEUKEMIC = "TGTGCGAGAGATCGGGGTTATTACTACTTTGACTACTGG"
SISTER = "TGTGCGAGAGGGGGGGGTCCCCTTTGACTACTGG"
BACKGROUND = ["TGTGCGAGA" + "ACGT"[k % 4] * 6 + "GCATTTGACTACTGG" + "C" * k for k in range(3)]


def test_fuse_writes_the_mrd_tables_with_dna_replicates_and_listed_markers(tmp_path: Path) -> None:
    dx = sample_doc(tmp_path / "dx.vidjil", "dx", 10_000, [("W" * 10, LEUKEMIC, 4_000), ("S" * 10, SISTER, 50)])
    fa = sample_doc(tmp_path / "fu-a.vidjil", "fu-a", 20_000, [("W" * 10, LEUKEMIC, 8)])
    fb = sample_doc(tmp_path / "fu-b.vidjil", "fu-b", 20_000, [("W" * 10, LEUKEMIC, 4)])
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(
        "sample\tdate\tdna_ng\treplicate\ndx\t2026-01-01\t500\t\nfu-a\t2026-02-01\t100\tfu\nfu-b\t2026-02-01\t100\tfu\n"
    )
    out = tmp_path / "P.fused.vidjil"
    tables = {kind: tmp_path / f"P.{kind}.tsv" for kind in ("mrd", "markers", "alerts")}
    absent = "IGH:TGTGCGAAAAAAAAAAAAAATGG"
    result = run_vidjil(
        "fuse", str(dx), str(fa), str(fb), "-o", str(out), "--samples-sheet", str(sheet), "--set-name", "P",
        "--set-type", "patient", "--marker", LEUKEMIC, "--marker", absent,
        *(a for kind, path in tables.items() for a in (f"--{kind}-tsv", str(path))),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fused = json.loads(out.read_text())
    # 100 ng = 15,151.5 cells; 500 ng = 75,757.6.
    assert fused["samples"]["_dna_ng"] == [500, 100, 100]
    assert fused["samples"]["_cell_equivalents"] == pytest.approx([75_757.6, 15_151.5, 15_151.5], abs=0.1)
    mrd = tsv(tables["mrd"])
    assert list(mrd[0]) == [
        "sample", "date", "marker", "marker_name", "locus", "reads", "locus_reads", "fraction",
        "cell_equivalents", "lod", "loq", "status", "replicate",
    ]  # fmt: skip
    leukemic = [r for r in mrd if r["marker"] == "1"]
    assert [(r["sample"], r["replicate"], r["reads"], r["status"]) for r in leukemic] == [
        ("dx", "", "4000", "positive"),
        ("fu-a", "fu", "8", "positive-not-quantifiable"),
        ("fu-b", "fu", "4", "positive-not-quantifiable"),
        # 12 reads of 40,000 = 3e-4; LoQ max(10/40,000, 10/30,303) = 3.3e-4: still not quantifiable.
        ("fu", "pooled", "12", "positive-not-quantifiable"),
    ]
    assert float(leukemic[3]["loq"]) == pytest.approx(10 / 30_303.03, rel=1e-5)
    assert float(leukemic[3]["lod"]) == pytest.approx(3 / 30_303.03, rel=1e-5)
    # The listed marker found nowhere: followed, negative everywhere, with its LoD.
    missing = [r for r in mrd if r["marker"] != "1"]
    assert {r["status"] for r in missing} == {"negative"} and missing[0]["locus"] == "IGH"
    assert float(missing[0]["lod"]) == pytest.approx(3 / 10_000)  # dx: reads 3e-4 > cells 3.96e-5
    markers = tsv(tables["markers"])
    assert [(m["marker"], m["source"]) for m in markers] == [
        ("1", f"sets sheet: {LEUKEMIC}"),
        (missing[0]["marker"], f"sets sheet: {absent}"),
    ]
    first = markers[0]
    assert (first["v"], first["j"], first["reads_at_diagnosis"], first["productive"]) == (
        "IGHV1-2",
        "IGHJ4",
        "4000",
        "T",
    )
    assert first["sisters"] == "clone 2 (50 reads)"  # same V and J, another junction
    assert first["recombination"] == "complete" and first["other_patients"] == ""
    # Falling from 40% to not quantifiable in samples less sensitive than the diagnosis: no alert
    # (LoQ 0.033% is below 40%).
    assert tsv(tables["alerts"]) == []


def test_sheet_and_option_errors_are_one_line(tmp_path: Path) -> None:
    dx = sample_doc(tmp_path / "dx.vidjil", "dx", 1_000, [("W" * 10, LEUKEMIC, 400)])
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tdna_ng\ndx\tlots\n")
    out = tmp_path / "fused.vidjil"
    bad_dna = run_vidjil("fuse", str(dx), "-o", str(out), "--samples-sheet", str(sheet))
    assert bad_dna.returncode == 2 and "row 2 (sample 'dx'): dna_ng 'lots' is not a positive number" in bad_dna.stderr
    bad_diagnosis = run_vidjil("fuse", str(dx), "-o", str(out), "--diagnosis", "nope")
    assert (
        bad_diagnosis.returncode == 2 and "--diagnosis: 'nope' is not a sample of the set (dx)" in bad_diagnosis.stderr
    )
    assert bad_diagnosis.stderr.count("\n") == 1 and not out.exists()
    bad_fraction = run_vidjil("fuse", str(dx), "-o", str(out), "--marker-fraction", "5")
    assert bad_fraction.returncode == 2 and "must be a fraction in (0, 1]" in bad_fraction.stderr


def test_an_already_fused_file_brings_all_its_samples(tmp_path: Path) -> None:
    dx = sample_doc(tmp_path / "dx.vidjil", "dx", 10_000, [("W" * 10, LEUKEMIC, 4_000)])
    fu = sample_doc(tmp_path / "fu.vidjil", "fu", 10_000, [("W" * 10, LEUKEMIC, 40)])
    later = sample_doc(tmp_path / "later.vidjil", "later", 10_000, [("W" * 10, LEUKEMIC, 4)])
    first = tmp_path / "first.fused.vidjil"
    assert run_vidjil("fuse", str(dx), str(fu), "-o", str(first)).returncode == 0
    again = tmp_path / "again.fused.vidjil"
    result = run_vidjil("fuse", str(first), str(later), "-o", str(again))
    assert result.returncode == 0, result.stderr
    fused = json.loads(again.read_text())
    assert fused["samples"]["original_names"] == ["dx", "fu", "later"]
    assert fused["reads"]["segmented"] == [10_000, 10_000, 10_000]
    assert fused["clones"][0]["reads"] == [4_000, 40, 4]


# The demo: a patient's follow-up with DNA inputs, in the workflow.


def test_the_demo_follow_up_shows_every_status_and_its_relapse(demo: Path) -> None:
    folder = demo / "results" / "multi+inc" / "sets" / "P1"
    fused = json.loads((folder / "P1.fused.vidjil").read_text())
    mrd = tsv(folder / "P1.mrd.tsv")
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    rows = [r for r in mrd if r["marker"] == str(leukemic["top"])]
    assert [r["sample"] for r in rows] == [f"P1-{s}" for s in ("diagnosis", *(f"followup-{k}" for k in range(1, 5)))]
    assert [r["status"] for r in rows] == [
        "positive",
        "positive",
        "positive-not-quantifiable",
        "negative",
        "positive",
    ]
    dna = [500, 500, 500, 700, 500]
    for row, ng in zip(rows, dna, strict=True):
        cells = ng * 1000 / 6.6
        locus = int(row["locus_reads"])
        # detect lists clones from 5 reads: the LoD in reads is 5 / locus reads.
        assert float(row["lod"]) == pytest.approx(max(5 / locus, 3 / cells), rel=1e-5)
        assert float(row["loq"]) == pytest.approx(max(10 / locus, 10 / cells), rel=1e-5)
        assert float(row["cell_equivalents"]) == round(cells)
    # The markers are the leukemic IGH clone and its TRG rearrangement, nothing of the background.
    markers = tsv(folder / "P1.markers.tsv")
    assert [m["locus"] for m in markers] == ["IGH", "TRG"] and markers[0]["marker"] == str(leukemic["top"])
    # One alert per marker, at the relapse; none on the stable background clones.
    alerts = tsv(folder / "P1.alerts.tsv")
    assert [(a["sample"], a["code"]) for a in alerts] == [("P1-followup-4", "W91")] * 2
    assert {a["clone"] for a in alerts} == {m["marker"] for m in markers}
    warned = [c["top"] for c in fused["clones"] if any(w.get("code") == "W91" for w in c.get("warn", []))]
    assert sorted(warned) == sorted(int(m["marker"]) for m in markers)
    # The reference client's time course: names, dates, info.
    assert fused["samples"]["timestamp"][0] == "2026-01-12" and fused["samples"]["info"][3] == "end of treatment"
    # A run set has no markers nor alerts; its contamination table is empty (one patient).
    run_set = demo / "results" / "multi+inc" / "sets" / "run-2026-05"
    assert tsv(run_set / "run-2026-05.alerts.tsv") == [] and tsv(run_set / "run-2026-05.markers.tsv") == []
    assert (run_set / "run-2026-05.contamination.tsv").read_text().startswith("sample\tpatient\tclone\t")
    assert tsv(run_set / "run-2026-05.contamination.tsv") == []
    assert not (folder / "P1.contamination.tsv").exists()


def test_the_index_lists_the_mrd_tables_values_and_alerts(demo: Path) -> None:
    with sqlite3.connect(demo / "results" / "index.sqlite") as con:
        kinds = {
            k
            for (k,) in con.execute(
                "SELECT kind FROM set_files t JOIN fused f ON f.id = t.fused WHERE f.sample_set = 'P1'"
            )
        }
        assert {"mrd", "markers", "alerts", "report"} <= kinds and "contamination" not in kinds
        run_kinds = {
            k
            for (k,) in con.execute(
                "SELECT kind FROM set_files t JOIN fused f ON f.id = t.fused WHERE f.sample_set = 'run-2026-05'"
            )
        }
        assert "contamination" in run_kinds
        statuses = con.execute(
            "SELECT sample, status FROM mrd m JOIN fused f ON f.id = m.fused"
            " WHERE f.sample_set = 'P1' AND marker = 1 ORDER BY sample"
        ).fetchall()
        assert dict(statuses)["P1-followup-3"] == "negative"
        assert con.execute("SELECT count(*), min(code) FROM alerts").fetchone() == (2, "W91")


# Other patients: through the index of earlier runs, and within a run.


def indexed_with(demo: Path, junction: str) -> list[str]:
    """The demo's samples where the clone of `junction` is among the top clones the
    index keeps (TOP_CLONES), from their .vidjil files."""
    from vidjil.index import TOP_CLONES
    from vidjil.vidjil_format import clone_junction

    found = []
    for path in sorted((demo / "results" / "multi+inc" / "samples").glob("*/*.vidjil")):
        clones = json.loads(path.read_text())["clones"][:TOP_CLONES]
        if any(clone_junction(c) == junction for c in clones):
            found.append(path.parent.name)
    return found


def test_a_marker_seen_in_another_patient_of_the_index_is_flagged(demo: Path, tmp_path: Path) -> None:
    junction = leukemic_junction(demo)
    other = sample_doc(tmp_path / "P2-dx.vidjil", "P2-dx", 10_000, [("X" * 10, junction, 900)])
    tables = tmp_path / "P2.markers.tsv"
    result = run_vidjil(
        "fuse", str(other), "-o", str(tmp_path / "P2.fused.vidjil"), "--set-name", "P2", "--set-type", "patient",
        "--index", str(demo / "results" / "index.sqlite"), "--markers-tsv", str(tables),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (marker,) = tsv(tables)
    # The demo's patient P1 has this junction among the top clones the index keeps.
    seen = marker["other_patients"].split("; ")
    assert [s.split(" (")[0] for s in seen] == indexed_with(demo, junction)
    assert all("(P1, run " in s for s in seen) and "P1-diagnosis (P1, run " in seen[0]
    # Fused as P1 itself: its own samples are not other patients.
    again = run_vidjil(
        "fuse", str(other), "-o", str(tmp_path / "P1.fused.vidjil"), "--set-name", "P1", "--set-type", "patient",
        "--index", str(demo / "results" / "index.sqlite"), "--markers-tsv", str(tables),
    )  # fmt: skip
    assert again.returncode == 0 and tsv(tables)[0]["other_patients"] == ""


def test_a_contamination_planted_across_two_patients_is_reported_and_nothing_else(demo: Path, tmp_path: Path) -> None:
    # A run: P2 (two samples sharing their own clone, not a contamination) and P3,
    # whose sample holds 3 reads of P2's clone A (planted) and the demo P1's
    # leukemic junction (an earlier run, through the index).
    a, b, c = (f"TGTGCGAGAG{s}TTTGACTACTGG" for s in ("AAACCCGGG", "CCCGGGTTT", "GGGTTTAAA"))
    p1 = leukemic_junction(demo)
    p2a = sample_doc(tmp_path / "P2-a.vidjil", "P2-a", 10_000, [("A" * 10, a, 5_000), ("B" * 10, b, 200)])
    p2b = sample_doc(tmp_path / "P2-b.vidjil", "P2-b", 10_000, [("A" * 10, a, 3_000)])
    p3 = sample_doc(
        tmp_path / "P3-a.vidjil", "P3-a", 10_000, [("C" * 10, c, 6_000), ("A" * 10, a, 3), ("L" * 10, p1, 40)]
    )
    samples = tmp_path / "samples.tsv"
    samples.write_text("sample\treads\tsets\nP2-a\tx\tP2;run\nP2-b\tx\tP2;run\nP3-a\tx\tP3;run\n")
    sets = tmp_path / "sets.tsv"
    sets.write_text("set\ttype\nP2\tpatient\nP3\tpatient\nrun\trun\n")
    out = tmp_path / "run.contamination.tsv"
    result = run_vidjil(
        "contamination", str(p2a), str(p2b), str(p3), "-o", str(out), "--samples-sheet", str(samples),
        "--sets-sheet", str(sets), "--index", str(demo / "results" / "index.sqlite"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = tsv(out)
    found = [
        (r["sample"], r["junction"], r["other_sample"], r["other_run"], r["reads"], r["other_reads"]) for r in rows
    ]
    this_run = [f for f in found if f[3] == "this run"]
    # A of P2 (>= 0.1% in both of its samples) found in P3 with 3 reads; P3's 3 reads of A
    # are 0.03% < 0.1%: not a top clone of P3. B and C are nowhere else.
    assert this_run == [("P2-a", a, "P3-a", "this run", "5000", "3"), ("P2-b", a, "P3-a", "this run", "3000", "3")]
    earlier = [f for f in found if f[3] != "this run"]
    assert {f[0] for f in earlier} == {"P3-a"} and {f[1] for f in earlier} == {p1}
    assert sorted(f[2] for f in earlier) == indexed_with(demo, p1)
    assert rows[0]["patient"] == "P2" and rows[0]["other_patient"] == "P3"
    assert float(rows[0]["other_fraction"]) == pytest.approx(3 / 10_000)
    # The run's report shows the table in its Contamination section; a damaged table is one line.
    fused, report = tmp_path / "run.vidjil", tmp_path / "run.html"
    assert run_vidjil("fuse", str(p2a), str(p2b), str(p3), "-o", str(fused)).returncode == 0
    done = run_vidjil("report", str(fused), "-o", str(report), "--contamination", str(out))
    assert done.returncode == 0, done.stderr
    page = report.read_text()
    section = page[page.index("<h2 id=contamination>") : page.index("<h2 id=mrd")]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", section)
    first = ["P2-a", "P2", "1 IGHV1-2*02 AAAAAAAAAA IGHJ4*02", "IGH", "5000", "50%", "P3-a", "P3", "this run", "3"]
    assert cells[:12] == [*first, "0.030%", f"<span class=seq>{a}</span>"]
    assert section.count("<tr>") == len(rows) + 1
    broken = tmp_path / "broken.tsv"
    broken.write_text("sample\tpatient\nP2-a\tP2\n")
    bad = run_vidjil("report", str(fused), "-o", str(tmp_path / "bad.html"), "--contamination", str(broken))
    assert bad.returncode == 2 and "not a contamination table: no column 'clone'" in bad.stderr
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "bad.html").exists()


def test_spike_normalised_copies_join_the_mrd_table(tmp_path: Path) -> None:
    spike = "GATTACAGATTACAGATTACAGG"
    dx = sample_doc(tmp_path / "dx.vidjil", "dx", 10_000, [("W" * 10, LEUKEMIC, 4_000), ("P" * 10, spike, 100)])
    fu = sample_doc(tmp_path / "fu.vidjil", "fu", 10_000, [("W" * 10, LEUKEMIC, 40), ("P" * 10, spike, 200)])
    table = tmp_path / "mrd.tsv"
    result = run_vidjil(
        "fuse", str(dx), str(fu), "-o", str(tmp_path / "f.vidjil"), "--spike", spike, "--spike-copies", "1000",
        "--mrd-tsv", str(table),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = tsv(table)
    # The spike-in is never a marker; the leukemic clone: 4,000 x 1,000 / 100 and 40 x 1,000 / 200 copies.
    assert [(r["sample"], r["marker_name"].split()[1], r["spike_normalised_copies"]) for r in rows] == [
        ("dx", "W" * 10, "40000"),
        ("fu", "W" * 10, "200"),
    ]


def test_a_listed_marker_is_followed_outside_the_top(tmp_path: Path) -> None:
    small = "TGTGCGAGAGCCCCCCCCCCTTTGACTACTGG"
    dx = sample_doc(tmp_path / "dx.vidjil", "dx", 10_000, [("W" * 10, LEUKEMIC, 4_000), ("S" * 10, small, 30)])
    fu = sample_doc(tmp_path / "fu.vidjil", "fu", 10_000, [("W" * 10, LEUKEMIC, 400), ("S" * 10, small, 12)])
    out = tmp_path / "f.vidjil"
    # --top 1: only the leukemic clone is in a top; the listed one (0.3%) is followed anyway.
    result = run_vidjil("fuse", str(dx), str(fu), "-o", str(out), "--top", "1", "--marker", f"IGH:{small}")
    assert result.returncode == 0, result.stderr
    fused = json.loads(out.read_text())
    (marker,) = fused["_mrd"]["markers"]
    clone = next(c for c in fused["clones"] if c["top"] == marker["top"])
    assert clone["reads"] == [30, 12] and marker["source"] == "sheet"
    # Without the listing it is not followed (0.3% < 5% at diagnosis, outside the top).
    again = run_vidjil("fuse", str(dx), str(fu), "-o", str(out), "--top", "1")
    assert again.returncode == 0 and [c["reads"] for c in json.loads(out.read_text())["clones"]] == [[4_000, 400]]
