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


# UMIs and PCR: each molecule of a clone is tagged with a random UMI, then amplified
# (PCR errors copied into a share of its copies), then sequenced (sequencing errors
# per read, errors in the UMI too).


@dataclass
class UmiSpec:
    umi_length: int = 12
    # Reads per molecule: 1 + a geometric number of mean `mean_reads - 1`.
    mean_reads: float = 6.0
    # PCR errors per base and molecule; each falls at a cycle c (1..10), carried by
    # about 2^-c of the molecule's copies (a first-cycle error: half of them).
    pcr_error_rate: float = 0.002
    # Substitutions per base of the UMI of each read.
    umi_error_rate: float = 0.002


@dataclass
class UmiRead:
    name: str
    seq: str
    origin: str  # clone id or 'noise'
    umi: str  # as read (with its errors)
    molecule: int  # the molecule's number (0.. over the sample)


def _geometric(mean: float, rng: random.Random) -> int:
    """A geometric count >= 0 of the given mean."""
    if mean <= 0:
        return 0
    p = 1.0 / (1.0 + mean)
    return int(math.log(1.0 - rng.random()) / math.log(1.0 - p))


def generate_umi_reads(
    clones: list[SimClone], molecules: list[int], seed: int, spec: ReadSpec, umi: UmiSpec
) -> Iterator[UmiRead]:
    """Reads of `molecules[i]` molecules of each clone i, with their UMIs: PCR errors
    before sequencing errors, UMI errors, random strand, noise molecules; reads of all
    molecules interleaved at random. The read's sequence does not hold its UMI."""
    rng = random.Random(seed)
    owners: list[int] = [i for i, n in enumerate(molecules) for _ in range(n)]
    n_noise = round(len(owners) * spec.noise_fraction / max(1e-9, 1 - spec.noise_fraction))
    owners.extend([-1] * n_noise)
    reads: list[tuple[str, str, str, int]] = []
    for m, i in enumerate(owners):
        tag = noise_read(umi.umi_length, rng)
        length = rng.randint(spec.min_length, spec.max_length)
        template = noise_read(length, rng) if i < 0 else cut_read(clones[i], length, rng, spec.amplicon)
        origin = "noise" if i < 0 else clones[i].clone_id
        # PCR errors: (position, base, share of the copies carrying it).
        events = []
        for p in _substitute(template, umi.pcr_error_rate, rng)[1]:
            base = rng.choice([b for b in "ACGT" if b != template[p]])
            events.append((p, base, 0.5 ** rng.randint(1, 10)))
        for _ in range(1 + _geometric(umi.mean_reads - 1, rng)):
            chars = list(template)
            for p, base, share in events:
                if rng.random() < share:
                    chars[p] = base
            seq = _mutate("".join(chars), spec.error_rate, rng)
            if rng.random() < spec.reverse_fraction:
                seq = revcomp(seq)
            reads.append((seq, origin, _mutate(tag, umi.umi_error_rate, rng), m))
    rng.shuffle(reads)
    for k, (seq, origin, tag, m) in enumerate(reads):
        yield UmiRead(f"read{k + 1}", seq, origin, tag, m)


def umi_records(reads: Iterator[UmiRead], source: str, spacer: str = "") -> Iterator[tuple[str, str, str]]:
    """(name, sequence, origin) of single-end reads with their UMI where `source` puts
    it: 'name' (NAME_UMI, as UMI-tools extract writes), 'illumina' (8th ':' field of an
    Illumina name), 'r1' (first bases of the read, then `spacer`)."""
    for r in reads:
        if source == "name":
            yield f"{r.name}_{r.umi}", r.seq, r.origin
        elif source == "illumina":
            yield f"SIM01:7:FC0001:1:1101:{r.name[4:]}:1000:{r.umi}", r.seq, r.origin
        elif source == "r1":
            yield r.name, r.umi + spacer + r.seq, r.origin
        else:
            raise ValueError(f"unknown UMI source {source}")


def umi_pairs(reads: Iterator[UmiRead], read_length: int, seed: int, mate: str, spacer: str = "") -> Iterator[Pair]:
    """Pairs of the reads (as molecules: `paired_reads`), the UMI and `spacer` at the
    start of mate `mate` ('r1' or 'r2'), at quality 40."""
    by_name = {}

    def molecules() -> Iterator[tuple[str, str, str]]:
        for r in reads:
            by_name[r.name] = r.umi + spacer
            yield r.name, r.seq, r.origin

    for pair in paired_reads(molecules(), read_length, seed):
        head = by_name.pop(pair.name.split()[0])
        if mate == "r1":
            pair.r1, pair.q1 = head + pair.r1, "I" * len(head) + pair.q1
        else:
            pair.r2, pair.q2 = head + pair.r2, "I" * len(head) + pair.q2
        yield pair


def write_umi_truth(path: Path, clones: list[SimClone], molecules: list[int], reads: list[UmiRead]) -> None:
    """The truth of a UMI sample: each clone's molecules (with at least one read) and reads."""
    seen: dict[str, set[int]] = {}
    counts: dict[str, int] = {}
    for r in reads:
        seen.setdefault(r.origin, set()).add(r.molecule)
        counts[r.origin] = counts.get(r.origin, 0) + 1
    with open(path, "w", encoding="ascii") as out:
        out.write("clone_id\tlocus\tjunction\tmolecules\treads\tsequence\n")
        for c in clones:
            out.write(
                f"{c.clone_id}\t{c.locus}\t{c.junction}\t{len(seen.get(c.clone_id, ()))}\t"
                f"{counts.get(c.clone_id, 0)}\t{c.sequence}\n"
            )
