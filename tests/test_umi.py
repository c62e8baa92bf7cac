"""UMIs (issue 21): molecules per clone against the truth of a simulation with UMIs,
PCR errors (copied into a share of a molecule's reads), sequencing errors and UMI
errors; a real neighbouring clone (one substitution, its own UMIs) kept apart while
PCR-error variants are merged; the three places a UMI can be (read name, Illumina
name, first bases of a mate) and paired-end reads; outputs and usage errors."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import random
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import run_vidjil

from vidjil.index import SCHEMA_VERSION
from vidjil.mrd import MRD_FIELDS, table_counts
from vidjil.simulate import (
    ReadSpec,
    SimClone,
    UmiRead,
    UmiSpec,
    clone_sizes,
    generate_umi_reads,
    simulate_clones,
    umi_pairs,
    umi_records,
    write_fastq,
    write_paired_fastq,
    write_umi_truth,
)

SEED = 41
SPACER = "TGGTA"
# Reads whose UMI cannot be read, added to each sample.
NO_UMI_READS = 25


@dataclass
class UmiSample:
    directory: Path
    clones: list[dict[str, str]]  # the truth: clone_id, junction, molecules, reads
    reads: list[UmiRead]
    big: str  # the largest clone, and its neighbour one substitution away
    neighbour_junction: str


def neighbour_of(clone: SimClone) -> SimClone:
    """The clone with one substitution in the middle of its junction."""
    mid = (clone.junction_start + clone.junction_end) // 2
    base = "A" if clone.sequence[mid] != "A" else "C"
    k = mid - clone.junction_start
    return dataclasses.replace(
        clone,
        clone_id="neighbour",
        sequence=clone.sequence[:mid] + base + clone.sequence[mid + 1 :],
        junction=clone.junction[:k] + base + clone.junction[k + 1 :],
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> UmiSample:
    """3 loci x 12 clones, 3000 molecules (power law) of about 6 reads each, and a
    neighbour of the largest clone with 1/40 of its molecules (the read-count merge,
    20x, would absorb it)."""
    directory = tmp_path_factory.mktemp("umi")
    clones = simulate_clones(["IGH", "TRG", "IGK"], 12, seed=SEED, shm=False)
    molecules = clone_sizes(len(clones), 3000, random.Random(SEED))
    big = max(range(len(clones)), key=lambda i: molecules[i])
    clones.append(neighbour_of(clones[big]))
    molecules.append(max(10, molecules[big] // 40))
    reads = list(generate_umi_reads(clones, molecules, SEED, ReadSpec(), UmiSpec()))
    write_umi_truth(directory / "truth.tsv", clones, molecules, reads)
    truth = list(csv.DictReader((directory / "truth.tsv").open(), delimiter="\t"))
    # Reads whose name or spacer carries no valid UMI.
    bad = [UmiRead(f"bad{k}", r.seq, r.origin, "ACNTACGTACGT", -1) for k, r in enumerate(reads[:NO_UMI_READS])]
    write_fastq(directory / "name.fastq.gz", umi_records(iter(reads + bad), "name"))
    write_fastq(directory / "illumina.fastq.gz", umi_records(iter(reads + bad), "illumina"))
    broken_spacer = [(n, s[:12] + "CCCCC" + s[17:], o) for n, s, o in umi_records(iter(bad), "r1", SPACER)]
    write_fastq(directory / "r1.fastq.gz", iter([*umi_records(iter(reads), "r1", SPACER), *broken_spacer]))
    return UmiSample(directory, truth, reads, clones[big].clone_id, clones[-1].junction)


def detect(out: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    run = run_vidjil("detect", *args, "-o", str(out), "-b", "s", "-q", "-z", "60")
    assert run.returncode == 0, run.stderr
    return json.loads((out / "s.vidjil").read_text()), json.loads((out / "s.stats.json").read_text())


@pytest.fixture(scope="module")
def by_name(sample: UmiSample, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    return detect(tmp_path_factory.mktemp("name"), str(sample.directory / "name.fastq.gz"), "--umi", "name")


def counted(doc: dict[str, Any], junction: str, key: str = "molecules") -> int:
    return sum(c[key][0] for c in doc["clones"] if junction in c["sequence"])


def test_molecules_per_clone_are_those_of_the_truth(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    """Clones of >= 10 molecules: within 2% of the truth (UMI errors merged, two errors
    in one UMI too where the clone's UMIs are sparse); the total within 1%."""
    doc, stats = by_name
    large = [t for t in sample.clones if int(t["molecules"]) >= 10 and t["clone_id"] != "neighbour"]
    assert len(large) >= 30
    total = total_truth = 0
    for t in large:
        truth = int(t["molecules"])
        got = counted(doc, t["junction"])
        assert abs(got - truth) <= 0.02 * truth, (t["clone_id"], got, truth)
        total, total_truth = total + got, total_truth + truth
        # Reads are not molecules: about 6 reads per molecule.
        assert counted(doc, t["junction"], "reads") > 3 * truth
    print(f"{len(large)} clones within 2%, total {total} molecules for {total_truth}")
    assert abs(total - total_truth) <= 0.01 * total_truth
    umi = stats["umi"]
    assert umi["source"] == "name" and umi["exact"]
    assert stats["undetected"]["no-umi"]["reads"] == NO_UMI_READS == umi["reads_without_umi"]
    assert doc["reads"]["_undetected"]["no-umi"] == [NO_UMI_READS]
    # Every UMI error merged: as many UMIs merged as there are reads with a UMI error, about.
    assert umi["umis_merged"] > 100
    # The histogram holds the molecules seen; the count adds those hidden by collisions.
    seen = sum(b["molecules"] for b in umi["reads_per_molecule_histogram"])
    assert seen + umi["molecules_hidden_by_umi_collisions"] == umi["molecules"]
    assert umi["collisions"] <= 5  # 12-nt UMIs: hardly any by chance
    # The UMI error rate, estimated from the run, is the simulation's (0.002 per base).
    assert 0.0015 <= umi["umi_error_rate"] <= 0.0025
    # Clones are ranked on molecules.
    sizes = [c["molecules"][0] for c in doc["clones"]]
    assert sizes == sorted(sizes, reverse=True)


def test_a_neighbouring_clone_stays_apart_and_pcr_errors_are_merged(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    """The neighbour (one substitution from the largest clone, 1/40 of its molecules,
    UMIs of its own) is its own clone with its molecules; without UMIs the read counts
    merge it into the large clone. PCR and sequencing error variants of every clone
    are merged: every reported clone is a true one."""
    doc, _ = by_name
    truth = {t["clone_id"]: t for t in sample.clones}
    neighbour = [c for c in doc["clones"] if sample.neighbour_junction in c["sequence"]]
    assert len(neighbour) == 1
    assert neighbour[0]["molecules"][0] == int(truth["neighbour"]["molecules"])
    big = truth[sample.big]
    assert abs(counted(doc, big["junction"]) - int(big["molecules"])) <= 0.01 * int(big["molecules"])
    junctions = [t["junction"] for t in sample.clones]
    for clone in doc["clones"]:
        assert any(j in clone["sequence"] for j in junctions), clone["id"]
    expected = [t for t in sample.clones if int(t["molecules"]) >= 5]
    found = [t for t in expected if any(t["junction"] in c["sequence"] for c in doc["clones"])]
    assert len(found) == len(expected)
    reads_only, _ = detect(tmp_path, str(sample.directory / "name.fastq.gz"))
    assert not any(sample.neighbour_junction in c["sequence"] for c in reads_only["clones"])


def molecules_by_window(doc: dict[str, Any]) -> dict[str, int]:
    return {c["id"]: c["molecules"][0] for c in doc["clones"]}


def test_the_three_places_of_a_umi_give_the_same_molecules(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    illumina, stats_i = detect(tmp_path / "i", str(sample.directory / "illumina.fastq.gz"), "--umi", "illumina")
    r1, stats_r1 = detect(
        tmp_path / "r1", str(sample.directory / "r1.fastq.gz"), "--umi", "r1:12", "--umi-spacer", SPACER
    )
    expected = molecules_by_window(by_name[0])
    assert molecules_by_window(illumina) == expected
    # The UMI and spacer are trimmed before detection: the same reads, the same clones.
    assert molecules_by_window(r1) == expected
    assert [c["reads"] for c in r1["clones"]] == [c["reads"] for c in by_name[0]["clones"]]
    for stats in (stats_i, stats_r1):
        assert stats["umi"]["reads_without_umi"] == NO_UMI_READS
    # Without the spacer, the UMI is read but the spacer stays in the read: still detected.
    assert stats_r1["parameters"]["umi_spacer"] == SPACER


def test_paired_end_reads_take_their_umi_once_per_pair(sample: UmiSample, tmp_path: Path) -> None:
    """Molecules read 2 x 200 with the UMI and spacer at the start of R2: the pairs
    are merged after the UMI is trimmed, each pair counts once, and the molecules are
    those of the truth."""
    r1, r2 = tmp_path / "S_R1.fastq.gz", tmp_path / "S_R2.fastq.gz"
    n = write_paired_fastq(r1, r2, umi_pairs(iter(sample.reads), 200, SEED, "r2", SPACER))
    doc, stats = detect(tmp_path / "out", "--r1", str(r1), "--r2", str(r2), "--umi", "r2:12", "--umi-spacer", SPACER)
    assert stats["reads"]["total"] == n == len(sample.reads)
    assert stats["pairs"]["merged"] >= 0.99 * n
    assert stats["umi"]["reads_without_umi"] == 0
    for t in sample.clones:
        truth = int(t["molecules"])
        if truth >= 50:
            assert abs(counted(doc, t["junction"]) - truth) <= 0.02 * truth, t["clone_id"]
    # The same pairs with the UMI in both mates' names (UMI-tools extract).
    names = tmp_path / "N_R1.fastq.gz", tmp_path / "N_R2.fastq.gz"
    renamed = (
        dataclasses.replace(p, name=p.name.replace(" ", f"_{r.umi} ", 1))
        for p, r in zip(umi_pairs(iter(sample.reads), 200, SEED, "r1", ""), sample.reads, strict=True)
    )
    # ... the UMI is not in R1's bases here: take the bases back out.
    plain = (dataclasses.replace(p, r1=p.r1[12:], q1=p.q1[12:]) for p in renamed)
    write_paired_fastq(*names, plain)
    by_names, _ = detect(tmp_path / "names", "--r1", str(names[0]), "--r2", str(names[1]), "--umi", "name")
    ours, theirs = molecules_by_window(by_names), molecules_by_window(doc)
    shared = set(ours) & set(theirs)
    assert len(shared) >= 0.9 * len(theirs)
    assert sum(abs(ours[w] - theirs[w]) for w in shared) <= 0.01 * sum(theirs[w] for w in shared)


def test_min_reads_per_umi_drops_small_molecules(
    by_name: tuple[dict[str, Any], dict[str, Any]], sample: UmiSample, tmp_path: Path
) -> None:
    doc, stats = detect(tmp_path, str(sample.directory / "name.fastq.gz"), "--umi", "name", "--min-reads-per-umi", "2")
    before = by_name[1]["umi"]
    after = stats["umi"]
    singletons = next(b["molecules"] for b in before["reads_per_molecule_histogram"] if b["min_reads"] == 1)
    # (single-read molecules also in a larger neighbour were moved there without the option)
    moved = before["molecules_reassigned_to_a_larger_neighbour"]
    assert singletons <= after["molecules_below_min_reads"] <= singletons + moved
    assert after["molecules"] == before["molecules"] - singletons > 0
    assert all(b["min_reads"] >= 2 for b in after["reads_per_molecule_histogram"])
    assert stats["parameters"]["min_reads_per_umi"] == 2


def test_outputs_and_threads(sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path) -> None:
    """AIRR umi_count (molecules), consensus_count (their reads), duplicate_count
    (reads); the .vidjil molecules; the same outputs on 1 thread; the reads of the
    clones follow the clones."""
    doc, stats = detect(
        tmp_path, str(sample.directory / "name.fastq.gz"), "--umi", "name", "-t", "1", "--clone-reads", "5"
    )
    assert molecules_by_window(doc) == molecules_by_window(by_name[0])
    assert doc["molecules"]["segmented"] == [stats["umi"]["molecules"]]
    assert doc["molecules"]["germline"]["IGH"][0] > 0
    rows = list(csv.DictReader((tmp_path / "s.airr.tsv").open(), delimiter="\t"))
    for row, clone in zip(rows, doc["clones"], strict=True):
        assert row["umi_count"] == str(clone["molecules"][0])
        assert row["duplicate_count"] == str(clone["reads"][0])
        assert int(row["consensus_count"]) == clone["_umi"][0]["reads_in_molecules"] <= clone["reads"][0]
    import airr

    assert airr.validate_rearrangement(str(tmp_path / "s.airr.tsv"))
    # --clone-reads with --umi: one consensus read per molecule of the top clones.
    written = stats["clone_reads"]
    assert written["consensus_per_molecule"]
    # (one per molecule seen: the count adds those hidden by UMI collisions)
    seen = [c["molecules"][0] - c["_umi"][0]["molecules_hidden_by_umi_collisions"] for c in doc["clones"][:5]]
    assert written["molecules_per_clone"] == seen
    with gzip.open(tmp_path / "s.clone-reads.fa.gz", "rt") as handle:
        records = list(zip(handle, handle, strict=True))
    assert len(records) == written["molecules"]
    top = doc["clones"][0]
    first = [(h, s.strip()) for h, s in records if " clone=1 " in h]
    assert len(first) == seen[0]
    assert sum(int(h.split("reads=")[1]) for h, _ in first) == top["_umi"][0]["reads_in_molecules"]
    # PCR and sequencing errors outvoted: the molecules of 3 reads or more of the top
    # clone hold its representative's window and junction, nearly all of them exactly.
    truth = next(t for t in sample.clones if t["junction"] in top["sequence"])
    large = [s for h, s in first if int(h.split("reads=")[1]) >= 3]
    exact = sum(top["id"] in s and truth["junction"] in s for s in large)
    print(f"{exact} of {len(large)} molecules of >= 3 reads exact on the window and junction")
    assert exact >= 0.95 * len(large) > 100


def test_a_umi_in_two_unrelated_clones_is_a_collision_in_the_stats(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    """Three molecules of a TRG clone given the UMIs of three molecules of an IGH clone
    (collisions, or chimeras): counted in the stats, and left in both clones."""
    igh, trg = (
        max((t for t in sample.clones if t["locus"] == locus), key=lambda t: int(t["molecules"]))
        for locus in ("IGH", "TRG")
    )
    umi_of: dict[tuple[str, int], str] = {}
    for r in sample.reads:
        umi_of.setdefault((r.origin, r.molecule), r.umi)
    donors = sorted(m for o, m in umi_of if o == igh["clone_id"])[:3]
    takers = sorted(m for o, m in umi_of if o == trg["clone_id"])[:3]
    given = {t: umi_of[(igh["clone_id"], d)] for t, d in zip(takers, donors, strict=True)}
    reads = [UmiRead(r.name, r.seq, r.origin, given.get(r.molecule, r.umi), r.molecule) for r in sample.reads]
    write_fastq(tmp_path / "collide.fastq.gz", umi_records(iter(reads), "name"))
    doc, stats = detect(tmp_path / "out", str(tmp_path / "collide.fastq.gz"), "--umi", "name")
    before = by_name[1]["umi"]
    assert stats["umi"]["collisions"] == before["collisions"] + 3
    assert stats["umi"]["clones_with_collisions"] >= 2
    for t in (igh, trg):
        assert counted(doc, t["junction"]) == counted(by_name[0], t["junction"]), t["clone_id"]


def test_grep_reads_writes_the_umi_of_each_read_of_a_clone(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    """`grep-reads --umi`: the reads of a clone's window with `umi=UMI` in their
    headers; from the start of the reads (`r1:12` and the spacer) the same reads, the
    UMI bases trimmed."""
    window = by_name[0]["clones"][1]["id"]

    def grep(fastq: str, *umi: str) -> list[tuple[str, str]]:
        out = tmp_path / f"{fastq}{len(umi)}.fa"
        run = run_vidjil("grep-reads", window, str(sample.directory / fastq), "-o", str(out), "-q", *umi)
        assert run.returncode == 0, run.stderr
        lines = out.read_text().splitlines()
        return list(zip(lines[::2], lines[1::2], strict=True))

    plain = grep("name.fastq.gz")
    by_umi = grep("name.fastq.gz", "--umi", "name")
    at_start = grep("r1.fastq.gz", "--umi", "r1:12", "--umi-spacer", SPACER)
    umi_of = {r.name: r.umi for r in sample.reads}
    assert len(by_umi) > 100
    assert [h.split()[0] for h, _ in by_umi] == [h.split()[0] for h, _ in plain if not h.startswith(">bad")]
    for header, _ in by_umi:
        name, umi = header[1:].split()[0], header.split("umi=")[1]
        assert umi == umi_of[name.rsplit("_", 1)[0]]
    assert [(h.split()[0].rsplit("_", 1)[0], s) for h, s in by_umi] == [(h.split()[0], s) for h, s in at_start]
    assert all("umi=" not in h for h, _ in plain)


def test_umis_too_short_for_a_clone_are_said_so(
    sample: UmiSample, by_name: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    """5-nt UMIs (1,024 of them) for clones of hundreds of molecules: the largest
    clones are crowded, counted in the stats and warned of; the 12-nt sample has none."""
    short = [UmiRead(r.name, r.seq, r.origin, r.umi[:5], r.molecule) for r in sample.reads]
    write_fastq(tmp_path / "short.fastq.gz", umi_records(iter(short), "name"))
    out = tmp_path / "out"
    run = run_vidjil("detect", str(tmp_path / "short.fastq.gz"), "--umi", "name", "-o", str(out), "-b", "s", "-q")
    assert run.returncode == 0, run.stderr
    stats = json.loads((out / "s.stats.json").read_text())
    assert stats["umi"]["clones_with_crowded_umis"] >= 1
    assert "warning" in run.stderr and "longer UMIs count them" in run.stderr  # even with -q
    assert by_name[1]["umi"]["clones_with_crowded_umis"] == 0


def test_per_read_gives_each_read_its_umi_and_designates_it_without_the_umi_bases(
    sample: UmiSample, tmp_path: Path
) -> None:
    """`--per-read --umi r1:12 --umi-spacer`: the UMI bases are trimmed before
    designation (the same lines as the reads without them), a last column holds the
    UMI, and a read with a broken spacer is `no-umi`."""
    reads = sample.reads[:150]
    bad = UmiRead("bad", reads[0].seq, reads[0].origin, "ACGTACGTACGT", -1)
    write_fastq(tmp_path / "plain.fastq", ((r.name, r.seq, r.origin) for r in reads))
    with_umi = [*umi_records(iter(reads), "r1", SPACER)]
    broken = [(n, s[:12] + "CCCCC" + s[17:], o) for n, s, o in umi_records(iter([bad]), "r1", SPACER)]
    write_fastq(tmp_path / "umi.fastq", iter(with_umi + broken))
    plain = run_vidjil("detect", "--per-read", str(tmp_path / "plain.fastq"), "-q")
    umi_args = ["--umi", "r1:12", "--umi-spacer", SPACER]
    umi = run_vidjil("detect", "--per-read", str(tmp_path / "umi.fastq"), "-q", *umi_args)
    assert plain.returncode == umi.returncode == 0, umi.stderr
    plain_rows = list(csv.DictReader(plain.stdout.splitlines(), delimiter="\t"))
    umi_rows = list(csv.DictReader(umi.stdout.splitlines(), delimiter="\t"))
    assert list(umi_rows[0])[-1] == "umi" and "umi" not in plain_rows[0]
    assert len(umi_rows) == len(reads) + 1
    assert sum(r["junction"] != "-" for r in plain_rows) > 100
    for read, before, after in zip(reads, plain_rows, umi_rows, strict=False):
        assert after["umi"] == read.umi
        assert {k: v for k, v in after.items() if k != "umi"} == before
    assert umi_rows[-1]["note"] == "no-umi" and umi_rows[-1]["umi"] == "-"
    # Molecule options have no meaning read by read.
    run = run_vidjil("detect", "--per-read", str(tmp_path / "umi.fastq"), "--umi", "r1:12", "--max-umis", "10")
    assert run.returncode == 2 and "--max-umis counts the molecules of clones: not with --per-read" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--umi", "r1:40"], "--umi must be name, illumina, r1:N or r2:N (N from 1 to 31)"),
        (["--umi", "r3:8"], "--umi must be name, illumina, r1:N or r2:N (N from 1 to 31)"),
        (["--umi-spacer", "TGG"], "detect: --umi-spacer needs --umi"),
        (["--umi", "name", "--umi-spacer", "TGG"], "--umi-spacer must be given with umi r1:N or r2:N only"),
        (["--umi", "r1:8", "--umi-spacer", "TGN"], "--umi-spacer must be A, C, G, T only"),
        (["--umi", "name", "--min-reads-per-umi", "0"], "--min-reads-per-umi must be at least 1"),
        (["--umi", "r2:8"], "has no second mate"),
    ],
)
def test_bad_umi_options_are_one_line_errors(sample: UmiSample, tmp_path: Path, args: list[str], message: str) -> None:
    run = run_vidjil("detect", str(sample.directory / "name.fastq.gz"), "-o", str(tmp_path / "out"), *args)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.fixture(scope="module")
def workflow(sample: UmiSample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow with `detect: umi:` in the configuration and a sample's `umi`
    column: A (UMIs in names, the analysis's source), B (UMIs at the start of the
    reads: its column), C (`none`: reads), D (A's reads again, another patient). Set
    P (patient: A, B) is fused and followed in molecules, Q (A, C) in reads; run set
    R (A, B, D) gets its contamination table. Its working folder."""
    from helpers import LOCAL, snakemake

    workdir = tmp_path_factory.mktemp("workflow")
    d = sample.directory
    (workdir / "samples.tsv").write_text(
        "sample\treads\tsets\tumi\n"
        f"A\t{d / 'name.fastq.gz'}\tP;Q;R\t\n"
        f"B\t{d / 'r1.fastq.gz'}\tP;R\tr1:12\n"
        f"C\t{d / 'name.fastq.gz'}\tQ\tnone\n"
        f"D\t{d / 'name.fastq.gz'}\tP2;R\t\n"
    )
    (workdir / "sets.tsv").write_text("set\ttype\tdiagnosis\nP\tpatient\tA\nQ\tgeneric\t\nP2\tpatient\t\nR\trun\t\n")
    config = workdir / "config.yaml"
    config.write_text(
        "samples: samples.tsv\nsets: sets.tsv\nanalyses: [multi]\n"
        f"detect: {{umi: {{source: name, spacer: {SPACER}, min_reads_per_umi: 1}}}}\n"
    )
    run = snakemake(workdir, *LOCAL, "--configfile", str(config))
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def sample_docs(workflow: Path) -> dict[str, dict[str, Any]]:
    results = workflow / "results/multi/samples"
    return {s: json.loads((results / f"{s}/{s}.vidjil").read_text()) for s in "ABCD"}


def tsv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text().splitlines(), delimiter="\t"))


def locus_molecules(doc: dict[str, Any], locus: str) -> int:
    return sum(n[0] for system, n in doc["molecules"]["germline"].items() if system.startswith(locus))


def test_workflow_counts_molecules_and_fuses_them_when_every_sample_has_them(workflow: Path) -> None:
    results = workflow / "results/multi"
    docs = sample_docs(workflow)
    assert molecules_by_window(docs["A"]) == molecules_by_window(docs["B"])
    assert "molecules" not in docs["C"] and "molecules" not in docs["C"]["clones"][0]
    fused_p = json.loads((results / "sets/P/P.fused.vidjil").read_text())
    fused_q = json.loads((results / "sets/Q/Q.fused.vidjil").read_text())
    assert fused_p["_counts"] == "molecules" and "_counts" not in fused_q
    assert fused_p["reads"]["segmented"] == [docs["A"]["molecules"]["segmented"][0]] * 2
    top = docs["A"]["clones"][0]
    followed = next(c for c in fused_p["clones"] if c["id"] == top["id"])
    assert followed["reads"] == [top["molecules"][0]] * 2
    in_reads = next(c for c in fused_q["clones"] if c["id"] == top["id"])
    # (C, counted in reads, has the neighbouring clone merged into this one)
    in_c = next(c for c in docs["C"]["clones"] if c["id"] == top["id"])
    assert in_reads["reads"] == [top["reads"][0], in_c["reads"][0]] and in_c["reads"][0] > top["reads"][0]
    # A set fused in reads carries no sample's molecules (A's, one count for two samples).
    assert not any("molecules" in c or "_umi" in c for c in fused_q["clones"])
    # MRD of P: the marker's molecules over its locus's molecules.
    rows = tsv_rows(results / "sets/P/P.mrd.tsv")
    marker = [r for r in rows if r["sample"] == "A"][0]
    assert int(marker["locus_molecules"]) == locus_molecules(docs["A"], marker["locus"])
    # The report and the viewer say which: molecules for P, reads for Q.
    report_p = (results / "sets/P/P.report.html").read_text()
    assert "<th>molecules</th>" in report_p and "Counts are molecules (UMIs)" in report_p
    assert "<th>molecules at diagnosis</th>" in report_p
    report_q = (results / "sets/Q/Q.report.html").read_text()
    assert "<th>reads</th>" in report_q and "<th>molecules</th>" not in report_q
    from webui import create_app

    client = create_app(workflow / "results").test_client()
    page = client.get("/set/P").data.decode()
    assert "<th>molecules</th>" in page and "detected molecules of the marker" in page
    assert "<th>molecules at diagnosis</th>" in page
    # R's contamination table, in molecules, as the viewer shows it.
    page = client.get("/set/R").data.decode()
    heading = page.split('id="contamination-table"')[1].split("</thead>")[0]
    assert heading.count("<th>molecules</th>") == 2 and "<th>reads</th>" not in heading


def test_the_mrd_tables_of_a_set_fused_in_molecules_name_their_unit(workflow: Path) -> None:
    """P's MRD table: `molecules` and `locus_molecules` (its counts are molecules), its
    marker table `molecules_at_diagnosis`; Q's, in reads, keep `reads` and
    `locus_reads`. `table_counts` reads either back; the values are the fused sets'."""
    sets = workflow / "results/multi/sets"
    docs = sample_docs(workflow)
    p_rows, q_rows = tsv_rows(sets / "P/P.mrd.tsv"), tsv_rows(sets / "Q/Q.mrd.tsv")
    expected = ["molecules" if f == "reads" else "locus_molecules" if f == "locus_reads" else f for f in MRD_FIELDS]
    assert list(p_rows[0]) == expected and list(q_rows[0]) == MRD_FIELDS
    assert not any("reads" in column for column in p_rows[0])
    fused_p = json.loads((sets / "P/P.fused.vidjil").read_text())
    fused_q = json.loads((sets / "Q/Q.fused.vidjil").read_text())
    for rows, fused, unit in ((p_rows, fused_p, "molecules"), (q_rows, fused_q, "reads")):
        by_top = {c["top"]: c for c in fused["clones"]}
        for k, row in enumerate(rows):
            count, locus_count, found = table_counts(row)
            sample = fused["samples"]["original_names"].index(row["sample"])
            assert found == unit and int(count) == by_top[int(row["marker"])]["reads"][sample], (unit, k)
            assert int(locus_count) > 0 and float(row["fraction"]) == pytest.approx(
                int(count) / int(locus_count), rel=1e-5
            )
    # The marker at diagnosis (A) in molecules: its molecules in A's own file.
    marker = next(r for r in p_rows if r["sample"] == "A")
    window = {c["top"]: c["id"] for c in fused_p["clones"]}[int(marker["marker"])]
    assert int(marker["molecules"]) == molecules_by_window(docs["A"])[window]
    markers = tsv_rows(sets / "P/P.markers.tsv")
    assert "molecules_at_diagnosis" in markers[0] and "reads_at_diagnosis" not in markers[0]
    assert int(markers[0]["molecules_at_diagnosis"]) == int(marker["molecules"])
    assert all(s.endswith("molecules)") for m in markers for s in m["sisters"].split("; ") if s)
    # R, a run set of molecules: contamination between patients P (A, B) and P2 (D) in molecules.
    contamination = tsv_rows(sets / "R/R.contamination.tsv")
    assert "molecules" in contamination[0] and "other_molecules" in contamination[0]
    assert "reads" not in contamination[0] and "other_reads" not in contamination[0]
    a_vs_d = [r for r in contamination if r["sample"] == "A" and r["other_sample"] == "D"]
    assert len(a_vs_d) >= 10
    top = docs["A"]["clones"][0]
    first = next(r for r in a_vs_d if r["clone"] == "1")
    # D is A's reads again: the same molecules on both sides.
    assert int(first["molecules"]) == int(first["other_molecules"]) == top["molecules"][0]
    total = locus_molecules(docs["A"], first["locus"])
    assert float(first["fraction"]) == pytest.approx(top["molecules"][0] / total, rel=1e-5)
    # No row between A and B: one patient.
    assert not [r for r in contamination if {r["sample"], r["other_sample"]} == {"A", "B"}]


def test_the_index_and_the_cohort_hold_molecules_and_the_unit_of_mrd_rows(workflow: Path) -> None:
    """The index: each result's molecules, each clone's molecules and fraction of its
    locus's molecules (NULL for C, counted in reads), each fused set's and MRD row's
    count unit; the cohort dataset: the clones' molecules, the MRD rows' unit."""
    results = workflow / "results"
    docs = sample_docs(workflow)
    con = sqlite3.connect(results / "index.sqlite")
    totals = dict(con.execute("SELECT sample, molecules FROM results").fetchall())
    assert totals == {s: docs[s]["molecules"]["segmented"][0] if s != "C" else None for s in "ABCD"}
    clones = con.execute(
        "SELECT r.sample, c.rank, c.reads, c.molecules, c.locus, c.locus_molecule_fraction"
        " FROM clones c JOIN results r ON r.id = c.result"
    ).fetchall()
    for name, rank, reads, molecules, locus, fraction in clones:
        clone = docs[name]["clones"][rank - 1]
        assert reads == clone["reads"][0]
        if name == "C":
            assert molecules is None and fraction is None
        else:
            assert molecules == clone["molecules"][0]
            assert fraction == pytest.approx(molecules / locus_molecules(docs[name], locus))
    assert dict(con.execute("SELECT sample_set, count_unit FROM fused").fetchall()) == {
        "P": "molecules", "Q": "reads", "P2": "molecules", "R": "molecules",
    }  # fmt: skip
    followup = pd.read_sql("SELECT * FROM mrd_followup", con)
    assert set(followup.groupby("sample_set")["count_unit"].unique().map(tuple).items()) == {
        ("P", ("molecules",)),
        ("Q", ("reads",)),
        ("P2", ("molecules",)),
    }
    # The index's rows are the MRD tables' (read back whatever their unit names).
    for name in ("P", "Q"):
        for row in tsv_rows(results / f"multi/sets/{name}/{name}.mrd.tsv"):
            count, locus_count, unit = table_counts(row)
            indexed = followup.query(
                f"sample_set == '{name}' and sample == '{row['sample']}' and marker == {row['marker']}"
            )
            (indexed,) = [r for _, r in indexed.iterrows()]
            assert (indexed["reads"], indexed["locus_reads"], indexed["count_unit"]) == (
                int(count),
                int(locus_count),
                unit,
            )
    con.close()
    cohort = pd.read_parquet(results / "cohort/clones")
    assert str(cohort["molecules"].dtype) == "Int64" or cohort["molecules"].dtype.kind in "if"
    for name in "ABCD":
        rows = cohort[cohort["sample"] == name].sort_values("rank")
        if name == "C":
            assert rows["molecules"].isna().all()
        else:
            assert rows["molecules"].astype(int).tolist() == [c["molecules"][0] for c in docs[name]["clones"]]
            assert (rows["molecules"] == rows["umi_count"]).all()
    mrd = pd.read_parquet(results / "cohort/mrd")
    assert set(zip(mrd["sample_set"], mrd["count_unit"], strict=True)) == {
        ("P", "molecules"), ("Q", "reads"), ("P2", "molecules")
    }  # fmt: skip


def test_other_patients_are_compared_in_molecules_through_the_index(workflow: Path, tmp_path: Path) -> None:
    """Once the run is indexed: B fused alone as patient P lists, for its marker, the
    index's samples of other patients with its junction in molecules (D) where they
    have them, in reads (C) where not; `vidjil contamination` of A finds D in
    molecules and C with no molecules to give."""
    results = workflow / "results"
    docs = sample_docs(workflow)
    db = results / "index.sqlite"
    b = results / "multi/samples/B/B.vidjil"
    tables = {kind: tmp_path / f"P.{kind}.tsv" for kind in ("mrd", "markers")}
    fused = run_vidjil(
        "fuse", str(b), "-o", str(tmp_path / "P.fused.vidjil"), "--set-name", "P", "--set-type", "patient",
        "--index", str(db), *(a for kind, path in tables.items() for a in (f"--{kind}-tsv", str(path))),
    )  # fmt: skip
    assert fused.returncode == 0, fused.stderr
    markers = tsv_rows(tables["markers"])
    assert markers and "molecules_at_diagnosis" in markers[0]
    top = docs["B"]["clones"][0]
    first = next(m for m in markers if m["junction"] and m["junction"] in top["sequence"])
    assert int(first["molecules_at_diagnosis"]) == top["molecules"][0]
    others = first["other_patients"].split("; ")
    c_top = next(c for c in docs["C"]["clones"] if c["id"] == top["id"])
    assert any(o.startswith("D (P2, run ") and o.endswith(f", {top['molecules'][0]} molecules)") for o in others)
    assert any(o.startswith("C (C, run ") and o.endswith(f", {c_top['reads'][0]} reads)") for o in others)
    assert not any(o.startswith(("A ", "B ")) for o in others)  # patient P itself
    table = tmp_path / "run.contamination.tsv"
    found = run_vidjil(
        "contamination", str(results / "multi/samples/A/A.vidjil"), "-o", str(table),
        "--samples-sheet", str(workflow / "samples.tsv"), "--sets-sheet", str(workflow / "sets.tsv"),
        "--index", str(db),
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    rows = tsv_rows(table)
    assert "molecules" in rows[0] and "other_reads" not in rows[0]
    first_d = next(r for r in rows if r["clone"] == "1" and r["other_sample"] == "D")
    assert int(first_d["other_molecules"]) == int(first_d["molecules"]) == docs["A"]["clones"][0]["molecules"][0]
    first_c = next(r for r in rows if r["clone"] == "1" and r["other_sample"] == "C")
    assert first_c["other_molecules"] == first_c["other_fraction"] == ""
    assert {r["other_sample"] for r in rows} == {"C", "D"}


# Damaged molecules: (where, value) put into a copy of A's file, and the problem named.
DAMAGED_MOLECULES = [
    ("clone", [], "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("clone", [3, 4], "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("clone", [-2], "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("clone", [2.5], "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("clone", 7, "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("clone", [True], "clone 1: 'molecules' is not a list of 1 non-negative integer count"),
    ("sample", "many", "'molecules' is not an object"),
    ("segmented", [], "'molecules.segmented' is not a list of 1 non-negative integer count"),
    ("segmented", [-1], "'molecules.segmented' is not a list of 1 non-negative integer count"),
    ("germline", {"IGH": [1, 2]}, "'molecules.germline' is not a table of a list of 1 non-negative integer count"),
]


@pytest.mark.parametrize(("where", "value", "problem"), DAMAGED_MOLECULES)
def test_damaged_molecules_are_one_line_errors_of_fuse_and_the_viewer(
    workflow: Path, tmp_path: Path, where: str, value: Any, problem: str
) -> None:
    """A damaged `molecules` (a clone's: not one count per sample; the sample's:
    not a table of counts) makes the file unreadable: `vidjil fuse` and `vidjil view`
    say so in one line naming the file, exit 2 and write nothing."""
    samples = workflow / "results/multi/samples"
    doc = json.loads((samples / "A/A.vidjil").read_text())
    if where == "clone":
        doc["clones"][0]["molecules"] = value
    elif where == "sample":
        doc["molecules"] = value
    else:
        doc["molecules"][where] = value
    damaged = tmp_path / "damaged.vidjil"
    damaged.write_text(json.dumps(doc))
    out = tmp_path / "out"
    fused = run_vidjil(
        "fuse", str(samples / "B/B.vidjil"), str(damaged), "-o", str(out / "P.fused.vidjil"),
        "--mrd-tsv", str(out / "P.mrd.tsv"), "--markers-tsv", str(out / "P.markers.tsv"),
    )  # fmt: skip
    assert fused.returncode == 2, fused.stderr
    assert fused.stderr.startswith(f"vidjil: error: {damaged}: ") and fused.stderr.count("\n") == 1, fused.stderr
    assert problem in fused.stderr, fused.stderr
    assert not out.exists() or not any(out.iterdir())
    viewed = run_vidjil("view", str(samples / "B/B.vidjil"), str(damaged), "--port", "1")
    assert viewed.returncode == 2 and viewed.stderr == fused.stderr, viewed.stderr


def test_a_damaged_sample_is_an_error_page_in_the_viewer_of_a_results_folder(workflow: Path, tmp_path: Path) -> None:
    from webui import create_app

    results = tmp_path / "results"
    shutil.copytree(workflow / "results", results)
    path = results / "multi/samples/A/A.vidjil"
    doc = json.loads(path.read_text())
    doc["clones"][1]["molecules"] = [1, 2]
    path.write_text(json.dumps(doc))
    with sqlite3.connect(results / "index.sqlite") as con:
        ids = dict(con.execute("SELECT sample, id FROM results").fetchall())
    client = create_app(results).test_client()
    broken = client.get(f"/sample/{ids['A']}")
    assert broken.status_code == 503
    assert "clone 2: &#39;molecules&#39; is not a list of 1 non-negative integer count" in broken.data.decode()
    assert client.get(f"/sample/{ids['B']}").status_code == 200
    # ... and the index is not rebuilt from it: one line naming it, the index unchanged.
    before = (results / "index.sqlite").read_bytes()
    rebuilt = run_vidjil("index", "rebuild", str(results))
    assert rebuilt.returncode == 2 and rebuilt.stderr.count("\n") == 1 and str(path) in rebuilt.stderr
    assert (results / "index.sqlite").read_bytes() == before


def test_an_index_of_schema_5_is_rebuilt_with_the_count_units(workflow: Path, tmp_path: Path) -> None:
    """Schema 6 added the molecules and count units: an index of schema 5 is rebuilt."""
    results = tmp_path / "results"
    shutil.copytree(workflow / "results", results)
    db = results / "index.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("DROP VIEW mrd_followup")
        con.execute("ALTER TABLE mrd DROP COLUMN count_unit")
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    done = run_vidjil("index", "rebuild", str(results))
    assert done.returncode == 0 and "updated" in done.stderr, done.stderr
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT value FROM meta").fetchall() == [(str(SCHEMA_VERSION),)] == [("6",)]
        units = con.execute("SELECT DISTINCT count_unit FROM mrd_followup ORDER BY 1").fetchall()
    assert units == [("molecules",), ("reads",)]


def test_a_set_fused_in_reads_by_an_earlier_version_is_still_read(workflow: Path, tmp_path: Path) -> None:
    """Before this check, `vidjil fuse` copied the best sample's `molecules` (one count)
    into the clones of a set fused in reads (Q: A with UMIs, C without): such a file
    is read without them, not refused."""
    doc = json.loads((workflow / "results/multi/sets/Q/Q.fused.vidjil").read_text())
    for clone in doc["clones"]:
        clone["molecules"] = [3]
    old = tmp_path / "Q.fused.vidjil"
    old.write_text(json.dumps(doc))
    report = run_vidjil("report", str(old), "-o", str(tmp_path / "Q.report.html"))
    assert report.returncode == 0, report.stderr
    fused = run_vidjil("fuse", str(old), "-o", str(tmp_path / "again.vidjil"), "--mrd-tsv", str(tmp_path / "m.tsv"))
    assert fused.returncode == 0, fused.stderr
    assert list(tsv_rows(tmp_path / "m.tsv")[0]) == MRD_FIELDS
    # A sample's molecules of the wrong length stay an error.
    sample = json.loads((workflow / "results/multi/samples/A/A.vidjil").read_text())
    sample["clones"][0]["molecules"] = [3, 3]
    (tmp_path / "A.vidjil").write_text(json.dumps(sample))
    refused = run_vidjil("report", str(tmp_path / "A.vidjil"), "-o", str(tmp_path / "A.html"))
    assert refused.returncode == 2 and "clone 1: 'molecules' is not a list of 1" in refused.stderr, refused.stderr
