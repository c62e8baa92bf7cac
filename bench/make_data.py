"""Make (once, seeded) the benchmark's 1,000,000-read multi-locus amplicon-like FASTQ.gz.

Usage: python bench/make_data.py [--reads N] [--out bench/data]"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from vidjil.simulate import ReadSpec, clone_sizes, generate_reads, simulate_clones, write_fastq, write_truth

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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    print(make(args.out, args.reads))
