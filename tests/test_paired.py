"""Paired-end reads: mates merged before detection. A simulated paired sample gives
the clones of the same molecules read as single reads; pairs that do not overlap
count once; files that do not pair are refused with no output."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import run_vidjil

from vidjil.simulate import (
    ReadSpec,
    clone_sizes,
    generate_reads,
    paired_reads,
    simulate_clones,
    write_fastq,
    write_paired_fastq,
)

SEED = 808
MOLECULES = 6000


@dataclass
class PairedSample:
    molecules: Path
    r1: Path
    r2: Path
    count: int


def simulate_pairs(directory: Path, read_length: int, min_length: int, max_length: int) -> PairedSample:
    """Amplicons of 3 loci (both strands, 5% noise) sequenced 2 x `read_length` with
    0.3% errors per mate, and the same molecules as single reads: what merging the
    mates should give (errors outside the overlap kept)."""
    clones = simulate_clones(["IGH", "IGK", "TRG"], 12, seed=SEED, shm=False)
    sizes = clone_sizes(len(clones), MOLECULES, random.Random(SEED))
    spec = ReadSpec(error_rate=0.0, min_length=min_length, max_length=max_length)
    molecules = list(generate_reads(clones, sizes, SEED, spec))
    sample = PairedSample(directory / "mol.fastq.gz", directory / "S_R1.fastq.gz", directory / "S_R2.fastq.gz", 0)
    pairs = list(paired_reads(iter(molecules), read_length, SEED))
    sample.count = write_paired_fastq(sample.r1, sample.r2, iter(pairs))
    write_fastq(sample.molecules, ((p.name, p.merged, "") for p in pairs))
    return sample


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory: pytest.TempPathFactory) -> PairedSample:
    """Molecules of 150..300 nt read 2 x 200: every pair overlaps (by 100 nt or
    more), and mates of molecules under 200 nt read into the adapter."""
    return simulate_pairs(tmp_path_factory.mktemp("overlapping"), 200, 150, 300)


@pytest.fixture(scope="module")
def apart(tmp_path_factory: pytest.TempPathFactory) -> PairedSample:
    """Molecules of 280..300 nt read 2 x 110: 60 nt or more between the mates."""
    return simulate_pairs(tmp_path_factory.mktemp("apart"), 110, 280, 300)


def detect(out: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    run = run_vidjil("detect", *args, "-o", str(out), "-b", "s", "-z", "20")
    assert run.returncode == 0, run.stderr
    return json.loads((out / "s.vidjil").read_text()), json.loads((out / "s.stats.json").read_text())


def clone_reads(doc: dict[str, Any]) -> dict[str, int]:
    return {c["id"]: c["reads"][0] for c in doc["clones"]}


def test_merged_pairs_give_the_clones_of_the_molecules(overlapping: PairedSample, tmp_path: Path) -> None:
    single, single_stats = detect(tmp_path / "single", str(overlapping.molecules))
    paired, stats = detect(tmp_path / "paired", "--r1", str(overlapping.r1), "--r2", str(overlapping.r2))
    assert stats["pairs"]["merged"] == overlapping.count
    assert stats["pairs"]["not_merged"] == stats["pairs"]["unpaired"] == 0
    assert stats["reads"]["total"] == single_stats["reads"]["total"] == overlapping.count
    assert stats["reads"]["detected"] == single_stats["reads"]["detected"]
    assert stats["pairs"]["average_overlap"] >= 100
    # The same clones, reads, representatives and designations.
    assert paired["clones"] == single["clones"]
    assert len(paired["clones"]) > 20
    assert f"{overlapping.count} pairs merged" in paired["samples"]["log"][0]
    assert paired["samples"]["_pairs"] == [{"merged": overlapping.count, "not_merged": 0, "unpaired": 0}]
    assert [i["mate"] for i in stats["inputs"]] == ["R1", "R2"]
    assert [i["reads"] for i in stats["inputs"]] == [overlapping.count] * 2


def test_pairs_apart_are_detected_on_each_mate_and_count_once(apart: PairedSample, tmp_path: Path) -> None:
    paired, stats = detect(tmp_path / "paired", "--r1", str(apart.r1), "--r2", str(apart.r2))
    assert stats["pairs"] == {"merged": 0, "not_merged": apart.count, "unpaired": 0, "average_overlap": None}
    assert stats["reads"]["total"] == apart.count
    # The same mates as single reads: each detected mate counts, up to twice a pair.
    both, both_stats = detect(tmp_path / "single", str(apart.r1), str(apart.r2))
    assert both_stats["reads"]["total"] == 2 * apart.count
    assert stats["reads"]["detected"] <= apart.count
    # A pair is detected when either mate is: at least as many as R1 or R2 alone.
    r1_only, r1_stats = detect(tmp_path / "r1", str(apart.r1))
    r2_only, r2_stats = detect(tmp_path / "r2", str(apart.r2))
    assert stats["reads"]["detected"] >= max(r1_stats["reads"]["detected"], r2_stats["reads"]["detected"])
    # Amplicons end in J: R2 holds the junction; no clone gets more reads than pairs.
    for window, reads in clone_reads(paired).items():
        assert reads <= clone_reads(both).get(window, reads)
    assert sum(clone_reads(paired).values()) <= apart.count
    top = paired["clones"][0]
    assert top["id"] in clone_reads(r2_only)


def test_pairs_and_single_files_in_one_sample(overlapping: PairedSample, tmp_path: Path) -> None:
    _, stats = detect(
        tmp_path / "mixed", "--r1", str(overlapping.r1), "--r2", str(overlapping.r2), str(overlapping.molecules)
    )
    assert stats["pairs"]["merged"] == stats["pairs"]["unpaired"] == overlapping.count
    assert stats["reads"]["total"] == 2 * overlapping.count
    assert [i.get("mate") for i in stats["inputs"]] == ["R1", "R2", None]


def test_per_read_mode_merges_pairs(overlapping: PairedSample) -> None:
    run = run_vidjil("detect", "--per-read", "-q", "--r1", str(overlapping.r1), "--r2", str(overlapping.r2))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1 + overlapping.count
    assert lines[1].split("\t")[0].startswith("read1 ")


def fastq(path: Path, names: list[str]) -> Path:
    with gzip.open(path, "wt") as out:
        for name in names:
            out.write(f"@{name}\nACGTACGTACGTACGTACGTACGT\n+\nIIIIIIIIIIIIIIIIIIIIIIII\n")
    return path


@pytest.mark.parametrize(
    ("names1", "names2", "bad", "message"),
    [
        (["a", "b", "c"], ["a", "b"], 2, "ends after 2 reads: record 3 of {r1} ('c') has no mate"),
        (["a", "b"], ["a", "b", "c"], 1, "ends after 2 reads: record 3 of {r2} ('c') has no mate"),
        (
            ["a/1", "b/1", "c/1"],
            ["a/2", "x/2", "c/2"],
            2,
            "record 2 ('x/2') does not pair with record 2 of {r1} ('b/1')",
        ),
    ],
)
def test_files_that_do_not_pair_are_refused_with_no_output(
    tmp_path: Path, names1: list[str], names2: list[str], bad: int, message: str
) -> None:
    r1, r2 = fastq(tmp_path / "x_R1.fq.gz", names1), fastq(tmp_path / "x_R2.fq.gz", names2)
    out = tmp_path / "out"
    run = run_vidjil("detect", "--r1", str(r1), "--r2", str(r2), "-o", str(out), "-q")
    assert run.returncode == 2
    offending = r1 if bad == 1 else r2
    assert run.stderr.strip() == f"vidjil: error: {offending}: {message.format(r1=r1, r2=r2)}"
    assert not out.exists() or list(out.iterdir()) == []


def test_mates_must_come_in_pairs(tmp_path: Path) -> None:
    r1 = fastq(tmp_path / "y_R1.fq.gz", ["a"])
    run = run_vidjil("detect", "--r1", str(r1), "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "1 --r1 file(s) but 0 --r2 file(s)" in run.stderr
    run = run_vidjil("detect", "--r1", str(r1), "--r2", str(r1), "--min-overlap", "3", "-o", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "--min-overlap must be at least 5" in run.stderr


def test_sample_name_drops_the_mate_mark(overlapping: PairedSample, tmp_path: Path) -> None:
    mates = ["--r1", str(overlapping.r1), "--r2", str(overlapping.r2)]
    run = run_vidjil("detect", "-q", "-z", "0", *mates, "-o", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "S.vidjil").is_file()
