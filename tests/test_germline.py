"""Germline presets: Vidjil .g files, FASTA styles, system filters, anchors, and
the default set built from GenAIRR."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vidjil.germline import build_germline, default_germline
from vidjil.vidjil_core import Germline, InputError

ALL_HUMAN = ["IGH", "IGH+", "IGK", "IGK+", "IGL", "TRA", "TRA+D", "TRB", "TRB+", "TRD", "TRD+", "TRG"]


def test_every_system_of_vidjil52_loads(vidjil52: Path) -> None:
    g = Germline(str(vidjil52))
    assert sorted(g.system_names) == sorted(ALL_HUMAN)
    systems = {s["name"]: s for s in g.systems()}
    assert systems["IGK+"]["incomplete"] and not systems["IGK"]["incomplete"]
    assert systems["TRD+"]["seed"] == "#########"
    assert systems["TRA"]["seed"] == "#######-######"
    # TRD+ has three recombinations, with +up and +down flank files
    assert [r["5"] for r in systems["TRD+"]["recombinations"]] == [
        ["homo-sapiens/TRDV.fa"],
        ["homo-sapiens/TRDD2+up.fa"],
        ["homo-sapiens/TRDD2+up.fa"],
    ]
    files = {f["rel_path"]: f["alleles"] for f in g.files()}
    assert files["homo-sapiens/IGHV.fa"] == 349
    assert files["homo-sapiens/IGK-KDE.fa"] == 1
    assert g.load_seconds < 1.0


def test_anchors_from_imgt_gaps_and_motifs(vidjil52: Path) -> None:
    g = Germline(str(vidjil52))
    anchors = {(f, a): (pos, src) for f, a, pos, src in g.anchors()}
    pos, src = anchors[("homo-sapiens/IGHV.fa", "IGHV3-23*01")]
    assert src == "imgt-gaps" and pos == 285
    pos, src = anchors[("homo-sapiens/IGHJ+down.fa", "IGHJ4*02")]
    assert src == "imgt-gaps" and pos == 16  # ACTACTTTGACTAC TGG: last nt of the Trp
    # TRGJP1 has no W/F-G-X-G motif (F-A-E-G): only the IMGT numbering finds its Phe.
    assert anchors[("homo-sapiens/TRGJ+down.fa", "TRGJP1*01")] == (25, "imgt-gaps")
    assert anchors[("homo-sapiens/IGHD.fa", "IGHD1-1*01")][1] == "none"
    missing = g.missing_anchors()
    assert "IGHV3-23*01" not in missing
    assert missing and all(name[3] in "VJ" for name in missing)


def test_system_filter(vidjil52: Path) -> None:
    g = Germline(f"{vidjil52}:IGH,TRG")
    assert g.system_names == ["IGH", "TRG"]
    with pytest.raises(InputError, match="unknown system 'XYZ'"):
        Germline(f"{vidjil52}:IGH,XYZ")


def write_preset(
    tmp: Path, v_fasta: str, j_fasta: str = ">IGHJ4*02\nACTACTTTGACTACTGGGGCCAGGGAACCCTGGTCACCGTCTCCTCAG\n"
) -> Path:
    (tmp / "sp").mkdir(exist_ok=True)
    (tmp / "sp" / "V.fa").write_text(v_fasta)
    (tmp / "sp" / "J.fa").write_text(j_fasta)
    preset = {
        "species": "Test",
        "path": "sp",
        "systems": {"IGH": {"recombinations": [{"5": ["V.fa"], "3": ["J.fa"]}], "parameters": {"seed": "10s"}}},
    }
    path = tmp / "test.g"
    path.write_text(json.dumps(preset))
    return path


def test_both_header_styles_and_gap_dots(tmp_path: Path) -> None:
    gapped = "." * 9 + "A" * 300 + "TGTGCGAGAGA"
    fasta = (
        f">M99641|IGHV1-18*01|Homo sapiens|F|V-REGION|\n{gapped[:150]}\n{gapped[150:]}\n"
        ">IGHV9-9*01 plain header\nCAGGTGCAGCTGGTGCAGTCTGGGGCT\n"
    )
    g = Germline(str(write_preset(tmp_path, fasta)))
    anchors = {a: (pos, src) for _, a, pos, src in g.anchors()}
    assert anchors["IGHV1-18*01"] == (300, "imgt-gaps")
    assert "IGHV9-9*01" in anchors
    assert anchors["IGHJ4*02"] == (16, "motif")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "malformed germline preset"),
        ('{"species": "x"}', "no 'systems'"),
        ('{"systems": {"IGH": {"recombinations": [{"5": ["missing.fa"], "3": ["J.fa"]}]}}}', "missing.fa"),
        ('{"systems": {"IGH": {"recombinations": [{"5": ["V.fa"]}]}}}', "needs '5' and '3'"),
    ],
)
def test_malformed_presets_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "V.fa").write_text(">IGHV1*01\nACGT\n")
    (tmp_path / "J.fa").write_text(">IGHJ1*01\nACGT\n")
    path = tmp_path / "bad.g"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        Germline(str(path))
    assert "bad.g" in str(err.value) or "missing.fa" in str(err.value)


def test_malformed_fasta_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"V\.fa: malformed FASTA: line 2"):
        Germline(str(write_preset(tmp_path, ">IGHV1*01\nACGT*ACGT\n")))
    with pytest.raises(InputError, match="before any '>' header"):
        Germline(str(write_preset(tmp_path, "ACGT\n")))


def test_missing_preset() -> None:
    with pytest.raises(InputError, match="nowhere.g: cannot read"):
        Germline("/nowhere.g")


@pytest.mark.parametrize("species", ["human", "mouse"])
def test_germline_build_from_genairr(tmp_path: Path, species: str) -> None:
    out = tmp_path / species
    manifest = build_germline(species, out)
    on_disk = json.loads((out / "MANIFEST.json").read_text())
    assert on_disk == manifest
    assert manifest["source"]["package"] == "GenAIRR" and manifest["source"]["version"] == "2.3.1"
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    for rel, count in manifest["alleles"].items():
        assert (out / rel).read_text().count(">") == count
    g = Germline(str(out / manifest["preset"]))
    assert {"IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"} <= set(g.system_names)
    assert sorted(manifest["anchors_not_found"]) == sorted(g.missing_anchors())
    v_anchors = [src for f, _, _, src in g.anchors() if f.endswith("V.fa")]
    assert v_anchors.count("not-found") < len(v_anchors) * 0.05


def test_default_germline_is_built_once(private_cache: Path) -> None:
    first = default_germline("human")
    stamp = first.stat().st_mtime_ns
    assert default_germline("human") == first
    assert first.stat().st_mtime_ns == stamp
    assert str(first).startswith(str(private_cache))


def test_cli_germline_build_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    run = subprocess.run(
        [sys.executable, "-m", "vidjil.cli", "germline", "build", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "not empty" in run.stderr
    assert (tmp_path / "x").read_text() == "keep me"
