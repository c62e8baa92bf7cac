"""Clones found on reads simulated with GenAIRR (seeded; 7 loci; sequencing errors;
both strands; non-recombined noise reads), against the known truth."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import SimulatedSample, simulate_sample

LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
MIN_READS = 5


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    return simulate_sample(tmp_path_factory.mktemp("sim"), LOCI, 30, 25_000, seed=29, error_rate=0.004)


def recall_precision(doc: dict[str, Any], truth: list[dict[str, str]]) -> tuple[float, float, list[str]]:
    """Recall: true clones of >= 5 reads whose junction is in a reported clone of >= 5
    reads. Precision: reported clones of >= 5 reads that contain a true junction."""
    reported = [c for c in doc["clones"] if c["reads"][0] >= MIN_READS]
    expected = [t for t in truth if int(t["reads"]) >= MIN_READS]
    found: set[str] = set()
    real = 0
    for clone in reported:
        hits = [t["clone_id"] for t in truth if t["junction"] in clone["sequence"]]
        real += bool(hits)
        found.update(hits)
    missed = [f"{t['clone_id']} ({t['reads']} reads)" for t in expected if t["clone_id"] not in found]
    return 1 - len(missed) / len(expected), real / len(reported), missed


def run_detect(sample: SimulatedSample, out: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "vidjil.cli", "detect", str(sample.reads), "-o", str(out), "-b", "s"]
    result = subprocess.run([*cmd, "-q", "-z", "all", *extra], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "s.vidjil").read_text())


def test_default_germline_finds_the_true_clones(sample: SimulatedSample, tmp_path: Path) -> None:
    doc = run_detect(sample, tmp_path)
    recall, precision, missed = recall_precision(doc, sample.clones)
    print(f"default germline: recall {recall:.4f}, precision {precision:.4f}; missed {missed}")
    assert recall >= 0.97, missed
    assert precision >= 0.97


def test_vidjil52_germline_finds_the_true_clones(sample: SimulatedSample, vidjil52: Path, tmp_path: Path) -> None:
    doc = run_detect(sample, tmp_path, "-g", str(vidjil52))
    recall, precision, missed = recall_precision(doc, sample.clones)
    print(f"vidjil-52 germline: recall {recall:.4f}, precision {precision:.4f}; missed {missed}")
    assert recall >= 0.97, missed
    assert precision >= 0.97


def test_large_clones_are_counted_within_1_percent(sample: SimulatedSample, tmp_path: Path) -> None:
    doc = run_detect(sample, tmp_path)
    for truth in sorted(sample.clones, key=lambda t: -int(t["reads"]))[:10]:
        counted = sum(c["reads"][0] for c in doc["clones"] if truth["junction"] in c["sequence"])
        assert abs(counted - int(truth["reads"])) <= 0.01 * int(truth["reads"]), (
            truth["clone_id"],
            counted,
            truth["reads"],
        )


def test_merging_error_variants_is_what_keeps_precision(sample: SimulatedSample, tmp_path: Path) -> None:
    merged = run_detect(sample, tmp_path / "merged")
    unmerged = run_detect(sample, tmp_path / "unmerged", "--merge-distance", "0")
    _, precision_merged, _ = recall_precision(merged, sample.clones)
    _, precision_unmerged, _ = recall_precision(unmerged, sample.clones)
    assert len(unmerged["clones"]) > len(merged["clones"])
    assert precision_merged > precision_unmerged


def gene(allele: str) -> str:
    return allele.split("*")[0]


def test_designation_of_the_top_clones_agrees_with_the_truth(sample: SimulatedSample, tmp_path: Path) -> None:
    """Over the top 50 clones: V and J genes (a gene tied with the call, W69, counts:
    the sequence cannot tell them apart), junction nucleotides, productivity."""
    doc = run_detect(sample, tmp_path)
    v_ok = j_ok = junction_ok = productive_ok = strict_v = strict_j = 0
    top = doc["clones"][:50]
    assert len(top) == 50
    for clone in top:
        truths = [t for t in sample.clones if t["junction"] in clone["sequence"]]
        assert truths, clone["id"]
        truth = max(truths, key=lambda t: int(t["reads"]))
        seg = clone["seg"]
        ties = {
            gene(name)
            for w in clone.get("warn", [])
            if w["code"] == "W69"
            for name in w["msg"].split(": ", 1)[1].split(", ")
        }
        v, j = gene(seg["5"]["name"]), gene(seg["3"]["name"])
        true_v = {gene(x) for x in truth["v_call"].split(",")}
        true_j = {gene(x) for x in truth["j_call"].split(",")}
        strict_v += v in true_v
        strict_j += j in true_j
        v_ok += bool(({v} | ties) & true_v)
        j_ok += bool(({j} | ties) & true_j)
        junction = seg.get("junction")
        called = clone["sequence"][junction["start"] - 1 : junction["stop"]] if junction else ""
        junction_ok += called == truth["junction"]
        productive_ok += bool(junction and junction["productive"]) == (truth["productive"] == "True")
    n = len(top)
    print(
        f"top {n}: V {v_ok / n:.3f} (strict {strict_v / n:.3f}), J {j_ok / n:.3f} (strict {strict_j / n:.3f}), "
        f"junction {junction_ok / n:.3f}, productivity {productive_ok / n:.3f}"
    )
    assert v_ok / n >= 0.98 and j_ok / n >= 0.98
    assert junction_ok / n >= 0.95
    assert productive_ok / n >= 0.98


def test_rescue_detects_more_hypermutated_reads_and_no_random_one(default_germline: Path) -> None:
    """Issue 17 point 1, a small version of bench/rescue_sim.py: IG clones with 5%
    hypermutation, 0.5% read errors, random reads, and non-recombined reads (a V with a
    random tail, a J after a random head). The rescue step detects more recombined
    reads, keeps every read the first pass detects as it was, and detects no random
    or non-recombined read that the first pass does not."""
    from vidjil.germline import load_germline
    from vidjil.simulate import ReadSpec, _mutate, clone_sizes, generate_reads, noise_read, revcomp, simulate_clones

    germline = load_germline(str(default_germline))
    clones = simulate_clones(["IGH", "IGK", "IGL"], 150, seed=17, shm=True, shm_rate=0.05)
    sizes = clone_sizes(len(clones), 6000, random.Random(17))
    reads = [(seq, origin) for _, seq, origin in generate_reads(clones, sizes, 17, ReadSpec(error_rate=0.005))]
    rng = random.Random(18)
    for clone in clones:
        tail = noise_read(rng.randint(20, 120), rng)
        v_alone = clone.sequence[: clone.junction_start][-rng.randint(100, 250) :] + tail
        j_alone = tail + clone.sequence[clone.junction_end :]
        reads += [(revcomp(_mutate(seq, 0.005, rng)), "germline") for seq in (v_alone, j_alone)]
    detected = {"off": Counter[str](), "on": Counter[str]()}
    for seq, origin in reads:
        kind = origin if origin in ("noise", "germline") else "recombined"
        off = germline.detect_read(seq, rescue=False)
        on = germline.detect_read(seq, rescue=True)
        if off["detected"]:
            assert on == off
        elif kind != "recombined":
            assert not on["detected"], (kind, seq)
        detected["off"][kind] += off["detected"]
        detected["on"][kind] += on["detected"]
    recombined = sum(origin not in ("noise", "germline") for _, origin in reads)
    print(f"rescue off {dict(detected['off'])}, on {dict(detected['on'])}, of {recombined} recombined reads")
    assert detected["on"]["recombined"] > detected["off"]["recombined"]
    assert detected["on"]["recombined"] >= 0.98 * recombined
    assert detected["on"]["noise"] == detected["off"]["noise"] == 0


def test_clones_of_a_few_reads_stay_whole(tmp_path: Path) -> None:
    """Issue 17 point 2, a small version of bench/fragment_sim.py: IG clones with 5%
    hypermutation and 0.5% read errors. Shifted windows and error variants are reunited
    for every clone, not only the designated top ones: with `-z 10`, most true clones of
    5-9 reads come out whole (followed read by read with --clone-reads), and are found."""
    import gzip

    from vidjil.simulate import ReadSpec, clone_sizes, generate_reads, simulate_clones, write_fastq

    clones = simulate_clones(["IGH", "IGK", "IGL"], 150, seed=23, shm=True, shm_rate=0.05)
    sizes = clone_sizes(len(clones), 8000, random.Random(23))
    reads = list(generate_reads(clones, sizes, 23, ReadSpec(error_rate=0.005)))
    fastq = tmp_path / "r.fastq.gz"
    write_fastq(fastq, iter(reads))
    origin = {name: o for name, _, o in reads}
    true_sizes = Counter(origin.values())
    cmd = [sys.executable, "-m", "vidjil.cli", "detect", str(fastq), "-o", str(tmp_path), "-b", "s", "-q"]
    result = subprocess.run([*cmd, "-z", "10", "-r", "1", "--clone-reads", "all"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ranks: dict[str, set[int]] = {}
    with gzip.open(tmp_path / "s.clone-reads.fa.gz", "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                name, *fields = line[1:].split()
                rank = int(next(f for f in fields if f.startswith("clone="))[6:])
                ranks.setdefault(origin[name], set()).add(rank)
    small = [c for c, n in true_sizes.items() if c != "noise" and 5 <= n < 10]
    split = [c for c in small if len(ranks.get(c, ())) > 1]
    print(f"{len(split)} of {len(small)} true clones of 5-9 reads split")
    assert len(small) >= 60
    # bench/fragment_sim.py, same settings on 7 loci: 55% of them split before issue 17,
    # 23% after (the rest mostly stray reads with two errors in a shifted window).
    assert len(split) <= 0.3 * len(small), split
