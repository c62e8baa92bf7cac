"""`vidjil demo`: a seeded multi-locus sample with a dominant (leukemic) clone,
detected with the default germline set. Byte-identical reads on every run."""

from __future__ import annotations

import random
from pathlib import Path

from .simulate import ReadSpec, SimClone, clone_sizes, generate_reads, simulate_clones, write_fastq, write_truth

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


# The workflow's demo: one patient (a B-ALL with a leukemic IGH clone and its TRG
# rearrangement) followed over time: molecular remission, then a molecular relapse.
# (sample, reads, leukemic IGH reads, date, DNA input in ng); the leukemic TRG clone
# has half the IGH clone's reads. With config/samples.tsv's DNA inputs the MRD table
# shows every status: positive (diagnosis, follow-up 1), positive below
# quantification (follow-up 2: 6 reads), negative (follow-up 3), and follow-up 4
# raises the alert "detected after a negative sample" (W91).
FOLLOWUP = [
    ("P1-diagnosis", 20_000, 4_000, "2026-01-12"),
    ("P1-followup-1", 40_000, 200, "2026-03-02"),
    ("P1-followup-2", 60_000, 6, "2026-05-18"),
    ("P1-followup-3", 60_000, 0, "2026-08-17"),
    ("P1-followup-4", 60_000, 60, "2026-11-16"),
]
# A polyclonal background: clones per locus, flat enough that none reaches the 5%
# of its locus that makes a marker candidate, the same in every sample (stable clones).
BACKGROUND_PER_LOCUS = 100
BACKGROUND_SKEW = 0.4


def followup_sizes(clones: list[SimClone], reads: int, leukemic: int) -> list[int]:
    """Reads of each clone in a follow-up sample of `reads` reads: the leukemic IGH
    clone (the first IGH clone) `leukemic`, the first TRG clone half of it, the
    background the rest with the same proportions in every sample."""
    recombined = round(reads * (1 - ReadSpec().noise_fraction))
    leukemic_ids = {_first_of(clones, "IGH"): leukemic, _first_of(clones, "TRG"): leukemic // 2}
    background = recombined - sum(leukemic_ids.values())
    weights: dict[int, float] = {}
    for locus in DEMO_LOCI:
        members = [k for k, c in enumerate(clones) if c.locus == locus and k not in leukemic_ids]
        rng = random.Random(f"{DEMO_SEED}-{locus}")  # the same in every sample
        for k, size in zip(members, clone_sizes(len(members), 1_000_000, rng, skew=BACKGROUND_SKEW), strict=True):
            weights[k] = size
    total = sum(weights.values())
    # Largest remainders: the background sums to exactly `background` reads.
    shares = {k: background * w / total for k, w in weights.items()}
    sizes = {k: int(share) for k, share in shares.items()}
    for k in sorted(shares, key=lambda k: (sizes[k] - shares[k], k))[: background - sum(sizes.values())]:
        sizes[k] += 1
    return [leukemic_ids.get(k, sizes.get(k, 0)) for k in range(len(clones))]


def _first_of(clones: list[SimClone], locus: str) -> int:
    return next(k for k, c in enumerate(clones) if c.locus == locus)


def make_followup_reads(out_dir: Path) -> list[Path]:
    """Write `<sample>.fastq.gz` and `<sample>.truth.tsv` for the samples of
    `FOLLOWUP`. Seeded: byte-identical on every run."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clones = simulate_clones(DEMO_LOCI, BACKGROUND_PER_LOCUS, seed=DEMO_SEED, shm=False)
    spec = ReadSpec()
    paths = []
    for k, (sample, reads, leukemic, _) in enumerate(FOLLOWUP):
        sizes = followup_sizes(clones, reads, leukemic)
        fastq = out_dir / f"{sample}.fastq.gz"
        write_fastq(fastq, generate_reads(clones, sizes, DEMO_SEED + 1 + k, spec))
        write_truth(out_dir / f"{sample}.truth.tsv", clones, sizes)
        paths.append(fastq)
    return paths
