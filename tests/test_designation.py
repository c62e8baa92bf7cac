"""Designation in the outputs of `vidjil detect`: `.vidjil` seg boxes and names,
AIRR designation fields (validated by the `airr` package), warnings W53/W68/W69,
`--designate`, `--alternative-genes`, and the per-read mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import airr
import pytest
from helpers import SimulatedSample, detect, shared_path
from helpers import run_vidjil as run

from vidjil.vidjil_format import designation_warnings, same_designation_ranks


@pytest.fixture(scope="module")
def designated(small_sample: SimulatedSample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("designated")
    detect(small_sample.reads, out, "-z", "all", "--alternative-genes", "2")
    return out


def clones(out: Path) -> list[dict[str, Any]]:
    return list(json.loads((out / "s.vidjil").read_text())["clones"])


def test_seg_boxes_are_consistent_with_the_sequence(designated: Path, small_sample: SimulatedSample) -> None:
    named = [c for c in clones(designated) if "name" in c]
    assert len(named) == len(clones(designated))
    for clone in named:
        seg, seq = clone["seg"], clone["sequence"]
        five, three = seg["5"], seg["3"]
        assert clone["name"].startswith(five["name"]) and clone["name"].endswith(three["name"])
        assert 1 <= five["start"] <= five["stop"] < three["start"] <= three["stop"] <= len(seq)
        boxes = [five, *(seg[k] for k in ("4", "4b") if k in seg), three]
        for left, right in zip(boxes, boxes[1:], strict=False):
            assert left["stop"] < right["start"]
        assert seg["N1"] == len(seg["_inserts"][0])
        # The name spells the deletions and the inserted nucleotides.
        assert f" {five['delRight']}/{seg['_inserts'][0]}/{boxes[1]['delLeft']} " in clone["name"]
        junction = seg.get("junction")
        if junction:
            nt = seq[junction["start"] - 1 : junction["stop"]]
            truth = [t for t in small_sample.clones if t["junction"] == nt]
            assert truth, (clone["name"], nt)
            assert junction["productive"] == (truth[0]["productive"] == "True") or "unproductive" in junction
            if junction["productive"]:
                assert junction["aa"][0] == "C" and junction["aa"][-1] in "WF"
                assert seg["cdr3"]["seq"] == nt[3:-3] and seg["cdr3"]["aa"] == junction["aa"][1:-1]
            else:
                assert junction["unproductive"] in {"out-of-frame", "stop-codon", "mutated-anchor", "too-short"}
    igh = [c for c in named if c["germline"] == "IGH"]
    assert igh and all("4" in c["seg"] or c["name"].count(" ") == 2 for c in igh)


def test_airr_rows_carry_the_designation_and_validate(designated: Path) -> None:
    path = designated / "s.airr.tsv"
    assert airr.validate_rearrangement(str(path), debug=True)
    rows = list(airr.read_rearrangement(str(path)))
    doc_clones = clones(designated)
    for row, clone in zip(rows, doc_clones, strict=True):
        seq = row["sequence"]
        assert row["v_call"].split(",")[0] == clone["seg"]["5"]["name"]
        assert row["j_call"].split(",")[0] == clone["seg"]["3"]["name"]
        assert row["d_call"] == clone["seg"].get("4", {}).get("name", "")
        # The airr package reads 1-based closed positions as 0-based half-open ones.
        v_start, v_end = row["v_sequence_start"], row["v_sequence_end"]
        assert (v_start + 1, v_end) == (clone["seg"]["5"]["start"], clone["seg"]["5"]["stop"])
        alignment = row["sequence_alignment"].replace("-", "")
        assert alignment == seq[v_start : row["j_sequence_end"]]
        assert len(row["sequence_alignment"]) == len(row["germline_alignment"])
        assert row["v_cigar"].startswith(f"{v_start}S" if v_start else "")
        if row["junction"]:
            assert row["junction"] in seq
            assert row["productive"] in (True, False)
            assert row["vj_in_frame"] == (len(row["junction"]) % 3 == 0)
    assert any(row["productive"] for row in rows) and any(row["productive"] is False for row in rows)


def test_alternative_genes_and_ties(designated: Path) -> None:
    doc_clones = clones(designated)
    with_alt = [c for c in doc_clones if "5alt" in c["seg"]]
    assert with_alt
    assert all(len(c["seg"]["5alt"]) >= 1 for c in with_alt)
    rows = list(airr.read_rearrangement(str(designated / "s.airr.tsv")))
    assert any("," in row["v_call"] for row in rows)
    tied = [w for c in doc_clones for w in c.get("warn", []) if w["code"] == "W69"]
    assert tied and all(w["msg"].startswith("Several genes with equal probability: ") for w in tied)


def test_designate_bounds_the_designated_clones(small_sample: SimulatedSample, tmp_path: Path) -> None:
    doc = detect(small_sample.reads, tmp_path, "-z", "3")
    assert [("name" in c) for c in doc["clones"][:4]] == [True, True, True, False]
    stats = json.loads((tmp_path / "s.stats.json").read_text())
    assert stats["designation"]["attempted"] == 3 and stats["designation"]["designated"] == 3
    assert stats["timings"]["designation_seconds"] >= 0


def test_warnings_of_designations() -> None:
    assert designation_warnings({"failed": "3' gene e-value 2e0 above the threshold"}) == [
        ("W68", "V(D)J designation failed: 3' gene e-value 2e0 above the threshold")
    ]
    tie = {"tied_genes": ["TRGJ1*02", "TRGJ2*01"], "name": "x"}
    assert designation_warnings(tie)[0][0] == "W69"
    same = {"name": "IGHV1-2*02 1//2 IGHJ4*02", "junction": {"nt": "TGTGCGTGG"}, "tied_genes": []}
    other = {"name": "IGHV1-2*02 1//2 IGHJ6*02", "junction": {"nt": "TGTGCGTGG"}, "tied_genes": []}
    ranks = same_designation_ranks(
        [{"designation": same}, {"designation": other}, {"designation": same}, {"designation": {"failed": "x"}}]
    )
    assert ranks == [None, None, 1, None]


def test_per_read_mode(tmp_path: Path, vidjil52: Path) -> None:
    demo = shared_path("peer-tests", "Demo-X5.fa")
    result = run("detect", "--per-read", str(demo), "-g", str(vidjil52), "-q")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "read\tsystem\tname\tjunction\tjunction_aa\tproductive\tevalue\tnote"
    assert len(lines) == 1 + 14
    by_system = {line.split("\t")[1]: line.split("\t") for line in lines[1:]}
    trb = by_system["TRB"]
    assert trb[2] == "TRBV11-2*01 1/GTCC/0 TRBJ2-7*01" and trb[4] == "CASSLGPSYEQYF" and trb[5] == "yes"
    assert by_system["IGK+"][2] in ("Intron 2//9 KDE", "IGKV3-7*04 1/GTGGA/11 KDE")
    # With -o: NAME.reads.tsv, same lines; bad input: exit 2 and no file.
    result = run("detect", "--per-read", str(demo), "-g", str(vidjil52), "-o", str(tmp_path), "-b", "x", "-q")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.reads.tsv").read_text().splitlines() == lines
    bad = tmp_path / "bad.fa"
    bad.write_text(">r1\nACGT*ACGT\n")
    result = run("detect", "--per-read", str(bad), "-g", str(vidjil52), "-o", str(tmp_path / "o"), "-q")
    assert result.returncode == 2 and str(bad) in result.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_output_dir_is_required_without_per_read(tmp_path: Path) -> None:
    result = run("detect", str(tmp_path / "x.fa"))
    assert result.returncode == 2 and "-o/--output-dir is required" in result.stderr


def test_an_unexpected_recombination_names_both_genes(vidjil52: Path) -> None:
    from vidjil.vidjil_core import Germline

    def allele(file: str, name: str) -> str:
        text = (vidjil52.parent / "homo-sapiens" / file).read_text()
        for record in text.split(">")[1:]:
            header, *lines = record.splitlines()
            if header.split("|")[1] == name:
                return "".join(lines).upper().replace(".", "")
        raise KeyError(name)

    v, j = allele("TRGV.fa", "TRGV9*01"), allele("TRBJ.fa", "TRBJ2-7*01")
    read = v[-150:-3] + "GACCTT" + j[2:]
    result = Germline(str(vidjil52)).designate_read(read, unexpected=True)
    assert result["system"] == "unexpected" and result["pair"] == ("TRG", "TRB")
    name = result["designation"]["name"]
    # Chance matches at the N region's ends go to the genes: 3/GACCTT/2 reads 2/ACCT/1.
    assert name == "TRGV9*01 2/ACCT/1 TRBJ2-7*01"
