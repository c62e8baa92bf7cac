"""Seeded simulation of amplicon-like reads with known clones.

GenAIRR recombines V(D)J sequences (the clones, with their true genes and junction);
reads are then cut from the clones across the junction, with sequencing errors and
random strand, and mixed with non-recombined noise reads. The same seed gives the
same bytes, which the tests, the demo and the benchmark rely on."""

from __future__ import annotations

import gzip
import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from .genairr_refs import CONFIGS

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def revcomp(seq: str) -> str:
    return seq.translate(COMPLEMENT)[::-1]


@dataclass
class SimClone:
    clone_id: str
    locus: str
    v_call: str
    d_call: str
    j_call: str
    junction: str
    junction_aa: str
    productive: bool
    sequence: str
    junction_start: int
    junction_end: int


def simulate_clones(
    loci: list[str], per_locus: int, seed: int, species: str = "human", shm: bool = True, shm_rate: float = 0.02
) -> list[SimClone]:
    """`per_locus` distinct recombinations of each locus, each with a junction; with `shm`,
    IG clones carry somatic hypermutations (GenAIRR's S5F model) at `shm_rate` per base."""
    import GenAIRR as ga

    clones: list[SimClone] = []
    for k, locus in enumerate(loci):
        exp = ga.Experiment.on(CONFIGS[species][locus]).curate_refdata("functional_anchors_only").recombine()
        if shm and locus.startswith("IG"):
            exp = exp.mutate(model="s5f", rate=shm_rate)
        compiled = exp.compile()
        seen: set[str] = set()
        # Seeds of successive batches are spaced so that they never share records.
        batch_seed = seed * 1_000_003 + k * 100_000
        while sum(c.locus == locus for c in clones) < per_locus:
            n = per_locus * 2
            for rec in compiled.run_records(n=n, seed=batch_seed, expose_provenance=True).records:
                junction = (rec.get("junction") or "").upper()
                if not junction or junction in seen or rec["junction_start"] is None:
                    continue
                seen.add(junction)
                clones.append(
                    SimClone(
                        clone_id=f"{locus}-{len(seen)}",
                        locus=locus,
                        v_call=rec["truth_v_call"],
                        d_call=rec.get("truth_d_call") or "",
                        j_call=rec["truth_j_call"],
                        junction=junction,
                        junction_aa=rec.get("junction_aa") or "",
                        productive=bool(rec.get("productive")),
                        sequence=rec["sequence"].upper(),
                        junction_start=rec["junction_start"],
                        junction_end=rec["junction_end"],
                    )
                )
                if sum(c.locus == locus for c in clones) >= per_locus:
                    break
            batch_seed += n
    return clones


def clone_sizes(n_clones: int, total_reads: int, rng: random.Random, skew: float = 1.2) -> list[int]:
    """Read counts of the clones: a power law (a few large clones, many small ones)."""
    weights = [1.0 / (i + 1) ** skew for i in range(n_clones)]
    rng.shuffle(weights)
    total = sum(weights)
    return [max(1, round(total_reads * w / total)) for w in weights]


def _mutate(seq: str, rate: float, rng: random.Random) -> str:
    """Substitutions at `rate` per base (positions by geometric gaps: fast for low rates)."""
    return _substitute(seq, rate, rng)[0]


def _substitute(seq: str, rate: float, rng: random.Random) -> tuple[str, list[int]]:
    """`_mutate`, and the positions changed."""
    if rate <= 0:
        return seq, []
    chars = list(seq)
    changed = []
    log_q = math.log(1.0 - rate)
    i = int(math.log(1.0 - rng.random()) / log_q)
    while i < len(chars):
        chars[i] = rng.choice([b for b in "ACGT" if b != chars[i]])
        changed.append(i)
        i += 1 + int(math.log(1.0 - rng.random()) / log_q)
    return "".join(chars), changed


def cut_read(clone: SimClone, length: int, rng: random.Random, amplicon: bool = True) -> str:
    """A read of about `length` nt of the clone that contains its junction.

    Amplicon-like reads end in the J gene (the reverse primer) with a few nt of
    variation and start wherever the length puts them in V; otherwise the read is
    cut anywhere around the junction (capture-like)."""
    seq = clone.sequence
    length = min(length, len(seq))
    if amplicon:
        end = max(clone.junction_end, len(seq) - rng.randint(0, 6))
        return seq[max(0, end - length) : end]
    lo = max(0, clone.junction_end - length)
    hi = min(clone.junction_start, len(seq) - length)
    start = rng.randint(lo, hi) if hi >= lo else max(0, min(lo, len(seq) - length))
    return seq[start : start + length]


def noise_read(length: int, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


@dataclass
class ReadSpec:
    error_rate: float = 0.003
    noise_fraction: float = 0.05
    min_length: int = 150
    max_length: int = 300
    reverse_fraction: float = 0.5
    amplicon: bool = True


def generate_reads(
    clones: list[SimClone], sizes: list[int], seed: int, spec: ReadSpec
) -> Iterator[tuple[str, str, str]]:
    """(read name, sequence, clone id or 'noise'), clones interleaved at random."""
    rng = random.Random(seed)
    order: list[int] = [i for i, n in enumerate(sizes) for _ in range(n)]
    n_noise = round(len(order) * spec.noise_fraction / max(1e-9, 1 - spec.noise_fraction))
    order.extend([-1] * n_noise)
    rng.shuffle(order)
    for k, i in enumerate(order):
        length = rng.randint(spec.min_length, spec.max_length)
        if i < 0:
            seq, origin = noise_read(length, rng), "noise"
        else:
            seq, origin = (
                _mutate(cut_read(clones[i], length, rng, spec.amplicon), spec.error_rate, rng),
                clones[i].clone_id,
            )
        if rng.random() < spec.reverse_fraction:
            seq = revcomp(seq)
        yield f"read{k + 1}", seq, origin


def write_fastq(path: Path, reads: Iterator[tuple[str, str, str]], with_origin: bool = False) -> int:
    """Write reads as FASTQ (gzip if the name ends in .gz), atomically. Returns the count."""
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    raw: BinaryIO = (
        cast(BinaryIO, gzip.GzipFile(tmp, "wb", compresslevel=4, mtime=0)) if path.suffix == ".gz" else open(tmp, "wb")
    )
    with raw, io.TextIOWrapper(raw, encoding="ascii", write_through=False) as out:
        for name, seq, origin in reads:
            header = f"{name} {origin}" if with_origin else name
            out.write(f"@{header}\n{seq}\n+\n{'I' * len(seq)}\n")
            n += 1
    tmp.replace(path)
    return n


# Illumina's TruSeq adapter: what a mate reads past the end of a short molecule.
ADAPTER = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCACATCTCGTATGCCGTCTTCTGCTTG" * 5


@dataclass
class Pair:
    name: str
    r1: str
    q1: str
    r2: str
    q2: str
    # What a quality-aware merge of the mates gives: the molecule, with the errors of
    # a mate where the other does not cover it (R1's base when both err, same quality).
    merged: str


def paired_reads(
    molecules: Iterator[tuple[str, str, str]], read_length: int, seed: int, error_rate: float = 0.003
) -> Iterator[Pair]:
    """Each molecule read from both ends: R1 reads its first `read_length` nt, R2 the
    reverse complement of its last ones; a mate longer than the molecule reads into
    the adapter. Each mate gets its own substitution errors, at quality 2 ('#') where
    they fall (40, 'I', elsewhere)."""
    rng = random.Random(seed)

    def mate(seq: str) -> tuple[str, str, list[int]]:
        read, changed = _substitute((seq + ADAPTER)[:read_length], error_rate, rng)
        qual = list("I" * len(read))
        for i in changed:
            qual[i] = "#"
        return read, "".join(qual), changed

    for name, seq, origin in molecules:
        (r1, q1, changed1), (r2, q2, changed2) = mate(seq), mate(revcomp(seq))
        n = len(seq)
        # Molecule position p is R1's base p and R2's base n - 1 - p.
        lo, hi = max(0, n - read_length), min(read_length, n)  # read by both mates
        merged = list(r1[:hi] + revcomp(r2[: n - hi]))
        for p in {*changed1, *(n - 1 - i for i in changed2)}:
            if lo <= p < hi and q2[n - 1 - p] > q1[p]:
                merged[p] = revcomp(r2[n - 1 - p])
        yield Pair(f"{name} {origin}", r1, q1, r2, q2, "".join(merged))


def write_paired_fastq(r1_path: Path, r2_path: Path, pairs: Iterator[Pair]) -> int:
    """Write pairs as two gzip FASTQ files with Illumina-style names (1:N:0, 2:N:0). Returns the count."""
    tmps = [p.with_name(f".{p.name}.tmp") for p in (r1_path, r2_path)]
    n = 0
    with (
        gzip.open(tmps[0], "wt", compresslevel=4, encoding="ascii") as out1,
        gzip.open(tmps[1], "wt", compresslevel=4, encoding="ascii") as out2,
    ):
        for pair in pairs:
            out1.write(f"@{pair.name} 1:N:0:1\n{pair.r1}\n+\n{pair.q1}\n")
            out2.write(f"@{pair.name} 2:N:0:1\n{pair.r2}\n+\n{pair.q2}\n")
            n += 1
    for tmp, path in zip(tmps, (r1_path, r2_path), strict=True):
        tmp.replace(path)
    return n


def write_truth(path: Path, clones: list[SimClone], sizes: list[int]) -> None:
    with open(path, "w", encoding="ascii") as out:
        out.write("clone_id\tlocus\tv_call\td_call\tj_call\tjunction\tjunction_aa\tproductive\treads\tsequence\n")
        for c, n in zip(clones, sizes, strict=True):
            out.write(
                f"{c.clone_id}\t{c.locus}\t{c.v_call}\t{c.d_call}\t{c.j_call}\t{c.junction}\t"
                f"{c.junction_aa}\t{c.productive}\t{n}\t{c.sequence}\n"
            )
