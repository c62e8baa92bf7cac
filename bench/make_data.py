"""Make (once, seeded) the benchmark's 1,000,000-read multi-locus amplicon-like FASTQ.gz.

Usage: python bench/make_data.py [--reads N] [--out bench/data]"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
from pathlib import Path

from vidjil.simulate import (
    ReadSpec,
    clone_sizes,
    generate_reads,
    paired_reads,
    simulate_clones,
    write_fastq,
    write_paired_fastq,
    write_truth,
)

LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
SEED = 2026


def make(out_dir: Path, reads: int, clones_per_locus: int = 300) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    fastq = out_dir / f"bench-{reads}.fastq.gz"
    if fastq.exists():
        return fastq
    t0 = time.perf_counter()
    clones = simulate_clones(LOCI, clones_per_locus, seed=SEED, shm=True)
    spec = ReadSpec(error_rate=0.003, noise_fraction=0.05, min_length=150, max_length=300)
    sizes = clone_sizes(len(clones), round(reads * (1 - spec.noise_fraction)), random.Random(SEED))
    # Adjust the largest clone so that clones + noise give exactly `reads` reads.
    n_noise = round(sum(sizes) * spec.noise_fraction / (1 - spec.noise_fraction))
    sizes[sizes.index(max(sizes))] += reads - sum(sizes) - n_noise
    n = write_fastq(fastq, generate_reads(clones, sizes, SEED, spec))
    write_truth(out_dir / f"bench-{reads}.truth.tsv", clones, sizes)
    print(f"made {fastq} ({n} reads) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return fastq


def make_pairs(fastq: Path, read_length: int = 200) -> tuple[Path, Path, Path]:
    """The reads of `fastq` as molecules sequenced 2 x `read_length` (0.3% errors per
    mate): R1 and R2 files, and the reads their merge gives as a single-end file."""
    stem = fastq.name.removesuffix(".fastq.gz")
    r1, r2, merged = (fastq.with_name(f"{stem}-{part}.fastq.gz") for part in ("R1", "R2", "merged"))
    if merged.exists():
        return r1, r2, merged
    t0 = time.perf_counter()
    with gzip.open(fastq, "rt") as handle:
        records = zip(handle, handle, handle, handle, strict=True)
        pairs = list(paired_reads(((h[1:].strip(), s.strip(), "") for h, s, _, _ in records), read_length, SEED))
    write_paired_fastq(r1, r2, iter(pairs))
    write_fastq(merged, ((p.name, p.merged, "") for p in pairs))
    print(f"made {r1.name}, {r2.name}, {merged.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return r1, r2, merged


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    print(make(args.out, args.reads))
