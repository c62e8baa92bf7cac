"""`vidjil demo`: a seeded multi-locus sample with a dominant (leukemic) clone,
detected with the default germline set. Byte-identical reads on every run."""

from __future__ import annotations

import random
from pathlib import Path

from .simulate import ReadSpec, clone_sizes, generate_reads, simulate_clones, write_fastq, write_truth

DEMO_LOCI = ["IGH", "IGK", "TRB", "TRG", "TRD"]
DEMO_SEED = 20161102


def make_demo_reads(out_dir: Path, reads: int = 20_000, leukemic_fraction: float = 0.2) -> Path:
    """Write `demo.fastq.gz` and `demo.truth.tsv`; the first IGH clone (IGH-1) is the
    leukemic one, the largest clone of the sample."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clones = simulate_clones(DEMO_LOCI, 30, seed=DEMO_SEED, shm=False)
    rng = random.Random(DEMO_SEED)
    spec = ReadSpec()
    # reads = clones + noise reads; the leukemic clone is `leukemic_fraction` of all
    # reads, the others share the rest of the recombined reads (flatter than the
    # default so that none comes close to the leukemic clone).
    recombined = round(reads * (1 - spec.noise_fraction))
    leukemic = round(reads * leukemic_fraction)
    sizes = [leukemic, *clone_sizes(len(clones) - 1, recombined - leukemic, rng, skew=0.8)]
    fastq = out_dir / "demo.fastq.gz"
    write_fastq(fastq, generate_reads(clones, sizes, DEMO_SEED, spec))
    write_truth(out_dir / "demo.truth.tsv", clones, sizes)
    return fastq


# The workflow's demo: one patient followed over time, the leukemic clone falling
# from about 20% (diagnosis) to about 0.01% of the reads. (sample, reads, leukemic
# reads, date); the 0.01% sample is deep enough to hold 6 leukemic reads.
FOLLOWUP = [
    ("P1-diagnosis", 20_000, 4_000, "2026-01-12"),
    ("P1-followup-1", 40_000, 200, "2026-03-02"),
    ("P1-followup-2", 60_000, 6, "2026-05-18"),
]


def make_followup_reads(out_dir: Path) -> list[Path]:
    """Write `<sample>.fastq.gz` and `<sample>.truth.tsv` for the samples of
    `FOLLOWUP`: the same leukemic IGH clone (IGH-1) in all, a background repertoire
    drawn anew in each. Seeded: byte-identical on every run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clones = simulate_clones(DEMO_LOCI, 30, seed=DEMO_SEED, shm=False)
    spec = ReadSpec()
    paths = []
    for k, (sample, reads, leukemic, _) in enumerate(FOLLOWUP):
        seed = DEMO_SEED + 1 + k
        rng = random.Random(seed)
        recombined = round(reads * (1 - spec.noise_fraction))
        sizes = [leukemic, *clone_sizes(len(clones) - 1, recombined - leukemic, rng, skew=0.8)]
        fastq = out_dir / f"{sample}.fastq.gz"
        write_fastq(fastq, generate_reads(clones, sizes, seed, spec))
        write_truth(out_dir / f"{sample}.truth.tsv", clones, sizes)
        paths.append(fastq)
    return paths
