"""The reads of a clone: `vidjil detect --clone-reads N|all` writes every read of the
top clones (their counts are the clones' reads, merged windows included), in input
order; `vidjil grep-reads` finds the reads of a window or sequence later. Real runs
on simulated reads, single and paired-end."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import SimulatedSample, run_vidjil, simulate_sample

from vidjil.simulate import ReadSpec, clone_sizes, generate_reads, paired_reads, simulate_clones, write_paired_fastq

HEADER = re.compile(r"^>(\S+) clone=(\d+) window=([ACGT]+)$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    """2 loci x 10 clones, 4,000 reads with 0.4% errors: clones absorb error variants
    and shifted windows."""
    return simulate_sample(tmp_path_factory.mktemp("reads"), ["IGH", "TRG"], 10, 4000, seed=5, error_rate=0.004)


def fasta_records(path: Path) -> list[tuple[str, int, str, str]]:
    """(read, rank, window, sequence) of a clone-reads FASTA (gzip or plain), headers checked."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = handle.read().splitlines()
    assert len(lines) % 2 == 0
    records = []
    for header, seq in zip(lines[::2], lines[1::2], strict=True):
        match = HEADER.match(header)
        assert match, header
        assert re.fullmatch(r"[ACGTN]+", seq), seq
        records.append((match[1], int(match[2]), match[3], seq))
    return records


def input_reads(path: Path) -> list[tuple[str, str]]:
    """(name, sequence) of a gzip FASTQ, in order."""
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    return [(lines[k][1:].split()[0], lines[k + 1]) for k in range(0, len(lines) - 3, 4)]


def detect(out: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any], Path]:
    run = run_vidjil("detect", *args, "-o", str(out), "-b", "s", "-q")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    doc = json.loads((out / "s.vidjil").read_text())
    stats = json.loads((out / "s.stats.json").read_text())
    return doc, stats, out / "s.clone-reads.fa.gz"


def test_the_reads_of_the_top_clones(sample: SimulatedSample, tmp_path: Path) -> None:
    doc, stats, path = detect(tmp_path, str(sample.reads), "--clone-reads", "5")
    records = fasta_records(path)
    clones = doc["clones"]
    per_rank = Counter(rank for _, rank, _, _ in records)
    assert sorted(per_rank) == [1, 2, 3, 4, 5]
    for rank, count in per_rank.items():
        assert count == clones[rank - 1]["reads"][0]
    # Windows merged into the top clones (error variants, shifted windows) bring their reads.
    assert any(c.get("_merged", {}).get("reads") for c in clones[:5])
    for _, rank, window, _ in records:
        assert window == clones[rank - 1]["id"]
    # In input order, each read as it was given.
    reads = input_reads(sample.reads)
    position = {name: k for k, (name, _) in enumerate(reads)}
    order = [position[name] for name, _, _, _ in records]
    assert order == sorted(order)
    for name, _, _, seq in records:
        assert reads[position[name]][1] == seq
    assert stats["clone_reads"] == {
        "file": "s.clone-reads.fa.gz",
        "clones": 5,
        "reads": len(records),
        "reads_per_clone": [clones[k]["reads"][0] for k in range(5)],
        "exact": True,
        "seconds": stats["clone_reads"]["seconds"],
    }


def test_all_clones_and_any_number_of_threads(sample: SimulatedSample, tmp_path: Path) -> None:
    doc, stats, path = detect(tmp_path / "t2", str(sample.reads), "--clone-reads", "all", "-t", "2")
    per_rank = Counter(rank for _, rank, _, _ in fasta_records(path))
    assert len(doc["clones"]) > 10
    assert [per_rank[k + 1] for k in range(len(doc["clones"]))] == [c["reads"][0] for c in doc["clones"]]
    assert stats["clone_reads"]["clones"] == len(doc["clones"])
    # The same bytes on one thread.
    _, _, one = detect(tmp_path / "t1", str(sample.reads), "--clone-reads", "all", "-t", "1")
    assert one.read_bytes() == path.read_bytes()
    # Without --clone-reads: no file and no stats entry.
    _, stats, path = detect(tmp_path / "none", str(sample.reads))
    assert not path.exists() and "clone_reads" not in stats


def test_exact_when_windows_are_compacted_for_memory(sample: SimulatedSample, tmp_path: Path) -> None:
    """Past --max-windows the engine merges and drops windows during the pass; the
    second pass follows each read's count to where it went."""
    doc, stats, path = detect(tmp_path, str(sample.reads), "--clone-reads", "all", "--max-windows", "300")
    assert stats["windows"]["dropped_for_memory"] > 0
    per_rank = Counter(rank for _, rank, _, _ in fasta_records(path))
    assert [per_rank[k + 1] for k in range(len(doc["clones"]))] == [c["reads"][0] for c in doc["clones"]]
    assert stats["clone_reads"]["exact"] is True


def test_progress_goes_to_stderr(sample: SimulatedSample, tmp_path: Path) -> None:
    run = run_vidjil("detect", str(sample.reads), "-o", str(tmp_path), "--clone-reads", "2")
    assert run.returncode == 0 and run.stdout == ""
    assert "second pass" in run.stderr and "reads of the top 2 clones" in run.stderr


def test_paired_end_writes_the_merged_reads(tmp_path: Path) -> None:
    clones = simulate_clones(["IGH", "TRG"], 8, seed=41, shm=False)
    sizes = clone_sizes(len(clones), 2000, random.Random(41))
    molecules = generate_reads(clones, sizes, 41, ReadSpec(error_rate=0.0, min_length=150, max_length=300))
    r1, r2 = tmp_path / "S_R1.fastq.gz", tmp_path / "S_R2.fastq.gz"
    pairs = list(paired_reads(molecules, 200, 41))
    write_paired_fastq(r1, r2, iter(pairs))
    doc, stats, path = detect(tmp_path / "out", "--r1", str(r1), "--r2", str(r2), "--clone-reads", "3")
    assert stats["pairs"]["merged"] == len(pairs)
    records = fasta_records(path)
    per_rank = Counter(rank for _, rank, _, _ in records)
    assert [per_rank[k] for k in (1, 2, 3)] == [c["reads"][0] for c in doc["clones"][:3]]
    # The merged read of each pair, named as R1 (the pair's name): longer than a mate.
    merged = {p.name.split()[0]: p.merged for p in pairs}
    assert all(seq == merged[name] for name, _, _, seq in records)
    assert max(len(seq) for _, _, _, seq in records) > 200
    # grep-reads on the same pairs finds the reads of the top clone's own window.
    out = tmp_path / "top.fa"
    window = doc["clones"][0]["id"]
    run = run_vidjil("grep-reads", window, "--r1", str(r1), "--r2", str(r2), "-o", str(out), "--rank", "1", "-q")
    assert run.returncode == 0, run.stderr
    grep = fasta_records(out)
    assert grep and set(grep) <= {r for r in records if r[1] == 1}


def test_grep_reads_finds_the_reads_of_a_clone_by_window(sample: SimulatedSample, tmp_path: Path) -> None:
    doc, _, path = detect(tmp_path, str(sample.reads), "--clone-reads", "all")
    records = fasta_records(path)
    checked = 0
    for rank, clone in enumerate(doc["clones"][:8], start=1):
        window = clone["id"]
        found = tmp_path / f"{rank}.fa"
        run = run_vidjil("grep-reads", window, str(sample.reads), "-o", str(found), "--rank", str(rank), "-q")
        assert run.returncode == 0 and run.stderr == "", run.stderr
        grep = fasta_records(found)
        of_clone = [r for r in records if r[1] == rank]
        # The same headers; the reads of windows merged into the clone are its
        # reads too (--clone-reads has them, grep-reads by window finds those holding the window).
        assert set(grep) <= set(of_clone)
        if "_merged" not in clone:
            assert grep == of_clone
            checked += 1
        else:
            assert len(grep) >= clone["reads"][0] - clone["_merged"]["reads"]
    assert checked or doc["clones"][0].get("_merged")
    # A sequence on the other strand (shorter than a window): the reads that contain it (gzip output).
    window = doc["clones"][0]["id"]
    reverse = window[::-1].translate(str.maketrans("ACGT", "TGCA"))
    by_window = {n for n, *_ in fasta_records(tmp_path / "1.fa")}
    for query, extra in ((reverse[5:30], []), (reverse, ["--contains"])):
        out = tmp_path / "rc.fa.gz"
        run = run_vidjil("grep-reads", query, str(sample.reads), "-o", str(out), "-q", *extra)
        assert run.returncode == 0, run.stderr
        by_sequence = fasta_records(out)
        assert all(w == query and r == 0 for _, r, w, _ in by_sequence)
        assert by_window <= {n for n, *_ in by_sequence}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["detect", "{reads}", "-o", "{out}", "--clone-reads", "0"], "--clone-reads: must be a number of clones"),
        (["detect", "{reads}", "-o", "{out}", "--clone-reads", "ten"], "--clone-reads: invalid"),
        (["detect", "-", "-o", "{out}", "--clone-reads", "3"], "give a file, not standard input"),
        (["detect", "{reads}", "--per-read", "--clone-reads", "3"], "not with --per-read"),
        (["grep-reads", "ACGTNACGT", "{reads}", "-o", "{out}/g.fa"], "'ACGTNACGT' is not a window or sequence"),
        (["grep-reads", "ACGTACGT", "{out}/missing.fq", "-o", "{out}/g.fa"], "missing.fq: cannot open"),
        (["grep-reads", "ACGTACGT", "-o", "{out}/g.fa"], "no reads given"),
        (["grep-reads", "ACGTACGT", "{reads}"], "the following arguments are required: -o/--output"),
        (["grep-reads", "ACGTACGT", "{reads}", "-o", "{out}/g.fa", "-w", "10"], "-w/--window must be"),
        (["grep-reads", "ACGTACGT", "{bad}", "-o", "{out}/g.fa"], "bad.fa"),
    ],
)
def test_errors_are_one_line_with_exit_2(
    sample: SimulatedSample, tmp_path: Path, args: list[str], message: str
) -> None:
    bad = tmp_path / "bad.fa"
    bad.write_text(">r1\nACGT1ACGT\n")
    out = tmp_path / "out"
    # -q: the engine's last progress line is on stderr too when a run fails.
    given = [a.format(reads=sample.reads, out=out, bad=bad) for a in args] + ["-q"]
    run = run_vidjil(*given, stdin=b"@r1\nACGT\n+\nIIII\n")
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert message in run.stderr
    assert not out.exists() or not any(out.iterdir())
