"""Clones of a few reads: recall, precision and fragmentation on GenAIRR simulations (a
script, not a test; issue 17 point 2).

Seeded GenAIRR simulations of the 7 loci (amplicon-like reads, both strands, 5% random
reads): a diagnosis without hypermutation and 0.3% read errors, and one with 5% somatic
hypermutation on IG clones (S5F) and 0.5% read errors. `vidjil detect --clone-reads all`
(default `-z`, `-r 1`) tells which reported clone each read went to, so every true clone is
followed read by read:

- recall: true clones of >= 5 reads that are the main origin of a reported clone of >= 5 reads;
- precision: reported clones of >= 5 reads whose main origin is a true clone, and which are
  the largest reported clone of that origin (a second fragment of >= 5 reads is false);
- fragmentation: true clones of 5-9 reads whose detected reads are spread over more than
  one reported clone (e.g. 4 reads plus a stray read).

Usage: python bench/fragment_sim.py [--reads N] [--clones-per-locus N] [--seed S] [-t THREADS]
[-- extra detect options]
"""

from __future__ import annotations

import argparse
import gzip
import random
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vidjil.simulate import ReadSpec, clone_sizes, generate_reads, simulate_clones, write_fastq

LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
# name: (SHM rate of IG clones, read error rate)
SETTINGS = {
    "no SHM, 0.3% errors": (0.0, 0.003),
    "SHM 5% (IG), 0.5% errors": (0.05, 0.005),
}


def simulate(
    directory: Path, reads: int, per_locus: int, seed: int, shm: float, errors: float
) -> tuple[Path, dict[str, Any]]:
    """A FASTQ file and the origin (clone id or 'noise') of each read name."""
    clones = simulate_clones(LOCI, per_locus, seed=seed, shm=shm > 0, shm_rate=shm)
    spec = ReadSpec(error_rate=errors)
    sizes = clone_sizes(len(clones), round(reads * (1 - spec.noise_fraction)), random.Random(seed))
    generated = list(generate_reads(clones, sizes, seed, spec))
    path = directory / f"sim{seed}_{shm}.fastq.gz"
    write_fastq(path, iter(generated))
    origins = {name: origin for name, _, origin in generated}
    return path, {"origin": origins, "sizes": Counter(origins.values())}


def clone_of_reads(fastq: Path, out: Path, threads: int, extra: list[str]) -> tuple[dict[str, int], dict[int, int]]:
    """(read name -> reported clone rank, rank -> reads) from --clone-reads all."""
    cmd = [sys.executable, "-m", "vidjil.cli", "detect", str(fastq), "-o", str(out), "-b", "s", "-q"]
    # -r 1: every clone is listed, so that a stray read is seen in its own clone.
    cmd += ["-t", str(threads), "-r", "1", "--clone-reads", "all", *extra]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    rank_of: dict[str, int] = {}
    with gzip.open(out / "s.clone-reads.fa.gz", "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                name, *fields = line[1:].split()
                rank_of[name] = int(next(f for f in fields if f.startswith("clone="))[6:])
    return rank_of, Counter(rank_of.values())


def measure(truth: dict[str, Any], rank_of: dict[str, int], clone_reads: dict[int, int]) -> dict[str, Any]:
    origins, sizes = truth["origin"], truth["sizes"]
    by_rank: dict[int, Counter[str]] = defaultdict(Counter)
    by_true: dict[str, Counter[int]] = defaultdict(Counter)
    for name, rank in rank_of.items():
        by_rank[rank][origins[name]] += 1
        by_true[origins[name]][rank] += 1
    main_origin = {rank: c.most_common(1)[0][0] for rank, c in by_rank.items()}
    largest: dict[str, int] = {}
    for rank in sorted(clone_reads, key=lambda r: (-clone_reads[r], r)):
        largest.setdefault(main_origin[rank], rank)
    reported = [r for r, n in clone_reads.items() if n >= 5]
    real = sum(main_origin[r] != "noise" and largest[main_origin[r]] == r for r in reported)
    expected = [c for c, n in sizes.items() if c != "noise" and n >= 5]
    found = {main_origin[r] for r in reported}
    small = [c for c in expected if sizes[c] < 10]
    split = [c for c in small if len(by_true[c]) > 1]
    return {
        "expected": len(expected),
        "recall": sum(c in found for c in expected) / len(expected),
        "reported": len(reported),
        "precision": real / max(1, len(reported)),
        "small": len(small),
        "split": len(split),
        "missed": [f"{c} ({sizes[c]})" for c in expected if c not in found],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=40_000)
    parser.add_argument("--clones-per-locus", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1718)
    parser.add_argument("-t", "--threads", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more detect options (after --)")
    args = parser.parse_args()
    print("| simulation | true clones >= 5 reads | recall | reported >= 5 | precision | 5-9 read clones split |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (shm, errors) in SETTINGS.items():
            fastq, truth = simulate(Path(tmp), args.reads, args.clones_per_locus, args.seed, shm, errors)
            out = Path(tmp) / f"out{shm}"
            rank_of, clone_reads = clone_of_reads(fastq, out, args.threads, args.extra)
            m = measure(truth, rank_of, clone_reads)
            print(
                f"| {name} | {m['expected']} | {m['recall']:.4f} | {m['reported']} | {m['precision']:.4f} |"
                f" {m['split']} / {m['small']} ({m['split'] / max(1, m['small']):.1%}) |"
            )
            print(f"  missed: {m['missed'][:20]}", file=sys.stderr)


if __name__ == "__main__":
    main()
