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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import run_vidjil

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
    umi = run_vidjil("detect", "--per-read", str(tmp_path / "umi.fastq"), "-q", "--umi", "r1:12", "--umi-spacer", SPACER)
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


def test_workflow_counts_molecules_and_fuses_them_when_every_sample_has_them(sample: UmiSample, tmp_path: Path) -> None:
    """`detect: umi:` in the configuration and a sample's `umi` column: A (UMIs in
    names, the analysis's source), B (UMIs at the start of the reads: its column),
    C (`none`: reads). Set P (A, B) is fused and followed in molecules, set Q (A, C)
    in reads."""
    from helpers import LOCAL, snakemake

    d = sample.directory
    (tmp_path / "samples.tsv").write_text(
        "sample\treads\tsets\tumi\n"
        f"A\t{d / 'name.fastq.gz'}\tP;Q\t\n"
        f"B\t{d / 'r1.fastq.gz'}\tP\tr1:12\n"
        f"C\t{d / 'name.fastq.gz'}\tQ\tnone\n"
    )
    (tmp_path / "sets.tsv").write_text("set\ttype\tdiagnosis\nP\tpatient\tA\nQ\tgeneric\t\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "samples: samples.tsv\nsets: sets.tsv\nanalyses: [multi]\n"
        f"detect: {{umi: {{source: name, spacer: {SPACER}, min_reads_per_umi: 1}}}}\n"
    )
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode == 0, run.stderr[-3000:]
    results = tmp_path / "results/multi"
    docs = {s: json.loads((results / f"samples/{s}/{s}.vidjil").read_text()) for s in "ABC"}
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
    # MRD of P: the marker's molecules over its locus's molecules.
    rows = list(csv.DictReader((results / "sets/P/P.mrd.tsv").open(), delimiter="\t"))
    marker = [r for r in rows if r["sample"] == "A"][0]
    locus_molecules = sum(
        n[0] for system, n in docs["A"]["molecules"]["germline"].items() if system.startswith(marker["locus"])
    )
    assert int(marker["locus_reads"]) == locus_molecules
    # The report and the viewer say which: molecules for P, reads for Q.
    report_p = (results / "sets/P/P.report.html").read_text()
    assert "<th>molecules</th>" in report_p and "Counts are molecules (UMIs)" in report_p
    report_q = (results / "sets/Q/Q.report.html").read_text()
    assert "<th>reads</th>" in report_q and "<th>molecules</th>" not in report_q
    from webui import create_app

    page = create_app(tmp_path / "results").test_client().get("/set/P").data.decode()
    assert "<th>molecules</th>" in page and "detected molecules of the marker" in page
