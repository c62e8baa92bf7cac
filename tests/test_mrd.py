"""`vidjil.mrd` on small fused documents made by hand: marker clones, % of the
locus's detected reads, detection and quantification limits, statuses, dates and
the formatting of numbers (expected values worked out by hand)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import shared_path

from vidjil.mrd import (
    LOD_READS,
    LOQ_READS,
    MARKER_FRACTION,
    days_since_first,
    format_percent,
    locus_reads,
    marker_clones,
    mrd_summary,
    sample_dates,
    sample_names,
    significant,
    status_text,
)


def fused_clone(top: int, germline: str, reads: list[int], **extra: Any) -> dict[str, Any]:
    return {"id": f"W{top}", "top": top, "germline": germline, "name": f"clone {top}", "reads": reads} | extra


def fused_doc(**samples: Any) -> dict[str, Any]:
    """Three samples: IGH (+ IGH+) 1,000 / 2,000 / 4,000 reads, TRG 500 / 600 / 0."""
    return {
        "samples": {"number": 3, "original_names": ["a.fastq", "b.fastq", "c.fastq"], **samples},
        "reads": {
            "total": [2000, 3000, 5000],
            "segmented": [1600, 2700, 4100],
            "germline": {"IGH": [1000, 2000, 3000], "IGH+": [0, 0, 1000], "TRG": [500, 600, 0], "TRB": [100, 100, 100]},
        },
        "clones": [
            # 200/1000 = 20% of the first sample's IGH reads: marker
            fused_clone(1, "IGH", [200, 30, 0], _mrd={"spike_normalised_copies": [123.4, 5.0, None]}),
            # 90/500 = 18% of TRG: marker
            fused_clone(2, "TRG", [90, 4, 0]),
            # 40/1000 = 4%: not a marker
            fused_clone(3, "IGH", [40, 400, 10]),
            # 85/1000 = 8.5%: marker (IGH+ counts with IGH)
            fused_clone(4, "IGH+", [85, 0, 10]),
            # 60/100 = 60% of TRB: marker, the first (3.75% of all detected reads only)
            fused_clone(5, "TRB", [60, 60, 60]),
        ],
    }


def test_constants_are_the_documented_rule() -> None:
    assert (MARKER_FRACTION, LOD_READS, LOQ_READS) == (0.05, 3, 10)


def test_locus_reads_sum_the_systems_of_a_locus() -> None:
    assert locus_reads(fused_doc()) == {"IGH": [1000, 2000, 4000], "TRG": [500, 600, 0], "TRB": [100, 100, 100]}


def test_marker_clones_are_five_percent_of_their_locus_in_the_first_sample() -> None:
    assert [c["top"] for c in marker_clones(fused_doc())] == [5, 1, 2, 4]  # 60%, 20%, 18%, 8.5%


def test_the_spike_in_is_never_a_marker() -> None:
    doc = fused_doc()
    doc["clones"][0]["sequence"] = "ACGT" + "GATTACA" * 3
    doc["_mrd"] = {"spike": "GATTACA" * 3}
    assert [c["top"] for c in marker_clones(doc)] == [5, 2, 4]


def test_summary_values_statuses_and_limits_by_hand() -> None:
    doc = fused_doc(names=["dx", "fu1", "fu2"], timestamp=["2026-01-01", "2026-01-31", "2026-03-02"])
    summary = mrd_summary(doc, markers=[doc["clones"][k] for k in (0, 1, 3)])
    assert [(s["sample"], s["date"], s["days"]) for s in summary] == [
        ("dx", "2026-01-01", 0),
        ("fu1", "2026-01-31", 30),
        ("fu2", "2026-03-02", 60),
    ]
    values = [
        [(m["top"], m["locus"], m["reads"], m["locus_reads"], m["status"]) for m in s["markers"]] for s in summary
    ]
    assert values == [
        [(1, "IGH", 200, 1000, "positive"), (2, "TRG", 90, 500, "positive"), (4, "IGH", 85, 1000, "positive")],
        [
            (1, "IGH", 30, 2000, "positive"),
            (2, "TRG", 4, 600, "positive-not-quantifiable"),
            (4, "IGH", 0, 2000, "negative"),
        ],
        [(1, "IGH", 0, 4000, "negative"), (2, "TRG", 0, 0, "negative"), (4, "IGH", 10, 4000, "positive")],
    ]
    fu1, fu2 = summary[1]["markers"], summary[2]["markers"]
    assert fu1[0]["fraction"] == pytest.approx(0.015)  # 30 / 2000
    assert fu1[1]["fraction"] == pytest.approx(4 / 600)
    assert fu1[2]["lod"] == pytest.approx(0.0015) and fu1[2]["loq"] == pytest.approx(0.005)  # 3 and 10 / 2000
    assert fu2[0]["lod"] == pytest.approx(0.00075)  # 3 / 4000
    assert fu2[2]["fraction"] == pytest.approx(0.0025)  # 10 reads: quantifiable
    # What a reader sees.
    assert [format_percent(m["fraction"]) for m in fu1[:2]] == ["1.5%", "0.67%"]
    assert [status_text(m) for m in fu1] == ["positive", "positive, below quantification", "negative (< 0.15%)"]
    assert [status_text(m) for m in fu2] == ["negative (< 0.075%)", "negative (no TRG reads)", "positive"]
    # Spike-normalised copies from the fused file, where it has them.
    assert [m["spike_copies"] for s in summary for m in s["markers"][:1]] == [123.4, 5.0, None]
    assert summary[0]["markers"][1]["spike_copies"] is None


def test_chosen_markers_and_samples_without_sheet_values() -> None:
    doc = fused_doc()
    summary = mrd_summary(doc, markers=[doc["clones"][2]])
    assert [s["sample"] for s in summary] == ["a.fastq", "b.fastq", "c.fastq"]
    assert [(s["date"], s["days"], s["info"]) for s in summary] == [(None, None, "")] * 3
    assert [[m["top"] for m in s["markers"]] for s in summary] == [[3], [3], [3]]
    assert [format_percent(s["markers"][0]["fraction"]) for s in summary] == ["4.0%", "20%", "0.25%"]


def test_dates_names_and_days() -> None:
    doc = fused_doc(names=["dx", "", "fu2"], timestamp=["2019-10-15 16:05:59", "", "2019-10-20"], info=["x", "", "z"])
    assert sample_names(doc) == ["dx", "b.fastq", "fu2"]
    assert sample_dates(doc) == ["2019-10-15", None, "2019-10-20"]
    assert days_since_first([None, "2026-01-01", "2026-01-11", None]) == [None, 0, 10, None]
    assert days_since_first(["2024-02-28", "2024-03-01"]) == [0, 2]  # leap year
    assert [s["info"] for s in mrd_summary(doc)] == ["x", "", "z"]


@pytest.mark.parametrize(
    ("fraction", "text"),
    [
        (0.2, "20%"),
        (0.005, "0.50%"),
        (0.000053, "0.0053%"),
        (0.0000534, "0.0053%"),
        (0.0999, "10%"),
        (0.00009996, "0.010%"),
        (1.0, "100%"),
        (0.0, "0%"),
        (1.5e-7, "0.000015%"),
    ],
)
def test_percentages_have_two_significant_figures_and_no_exponent(fraction: float, text: str) -> None:
    assert format_percent(fraction) == text


def test_significant_figures() -> None:
    assert [significant(x) for x in (1234, 0.00012345, 99.6, -0.5, 7)] == ["1200", "0.00012", "100", "-0.50", "7.0"]
    assert significant(3.14159, 4) == "3.142"


def test_the_reference_fused_file_gives_a_summary() -> None:
    fused = json.loads(shared_path("formats", "fused_multiple.vidjil").read_text())
    assert locus_reads(fused)["IGH"] == [200, 500, 1940]
    summary = mrd_summary(fused)
    assert [s["sample"] for s in summary] == ["file_1.fastq", "file_2.fastq", "file_3.fastq"]
    first = summary[0]["markers"][0]
    assert (first["top"], first["locus"]) == (1, "IGH")  # 50 / 200 = 25%, the largest
    # IGH_top_1: 50, 95 and 200 reads of 200, 500 and 1,940 IGH reads
    assert [format_percent(s["markers"][0]["fraction"]) for s in summary] == ["25%", "19%", "10%"]
