"""The curated `should-vdj` reads of ../shared/peer-tests (expected designation in
each header), designated one by one with `vidjil detect --per-read` and the
vidjil-52 germline set, as the reference tool is scored.

The suite has 301 reads; the reference passes 181 of its 205 cases tagged neither
BUG nor TODO (BUG-LOCUS counts as BUG). We require at least as many, and that
every case listed in `data/should_vdj_passing.txt` (those passing when it was
written) still passes.
Junctions written with `#` for a frameshift (as the reference tool does) are
compared to the headers' `!`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import shared_path
from should_vdj import Expectation, parse_header, suite_records

PASSING = Path(__file__).parent / "data" / "should_vdj_passing.txt"
REFERENCE_SCORE = 181


def case_ids(records: list[tuple[str, str, str]]) -> list[str]:
    """`file#n`: the n-th read (1-based) of a file of the suite."""
    seen: dict[str, int] = {}
    ids = []
    for file_name, _, _ in records:
        seen[file_name] = seen.get(file_name, 0) + 1
        ids.append(f"{file_name}#{seen[file_name]}")
    return ids


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, vidjil52: Path) -> dict[str, tuple[Expectation, bool, str]]:
    records, _ = suite_records(shared_path("peer-tests", "should-vdj"))
    ids = case_ids(records)
    fasta = tmp_path_factory.mktemp("should-vdj") / "suite.fa"
    fasta.write_text("".join(f">{case}\n{seq}\n" for case, (_, _, seq) in zip(ids, records, strict=True)))
    cmd = [sys.executable, "-m", "vidjil.cli", "detect", "--per-read", str(fasta), "-g", str(vidjil52)]
    run = subprocess.run([*cmd, "--several-d", "--unexpected", "-q"], capture_output=True, text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0].split("\t")[:5] == ["read", "system", "name", "junction", "junction_aa"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert len(rows) == len(records)
    out = {}
    for case, (_, header, _) in zip(ids, records, strict=True):
        _, system, name, _, junction_aa, *_ = rows[case]
        expectation = parse_header(header)
        detected = system != "-" and name != "-"
        ok = detected and expectation.matches(name, system, junction_aa.replace("#", "!"))
        out[case] = (expectation, ok, f"{header}\n      got {name} [{system}] {{{junction_aa}}}")
    return out


def test_curated_designations_reach_the_reference_score(results: dict[str, tuple[Expectation, bool, str]]) -> None:
    counts: dict[str, list[int]] = {}
    for expectation, ok, _ in results.values():
        group = counts.setdefault(expectation.group, [0, 0])
        group[0] += ok
        group[1] += 1
    print("should-vdj passed / cases:", {g: f"{p}/{n}" for g, (p, n) in sorted(counts.items())})
    failed = [text for e, ok, text in results.values() if e.group == "neither" and not ok]
    print("untagged cases failing:\n  " + "\n  ".join(failed))
    assert counts["neither"][0] >= REFERENCE_SCORE, f"{counts['neither'][0]} < {REFERENCE_SCORE}"


def test_no_curated_case_regresses(results: dict[str, tuple[Expectation, bool, str]]) -> None:
    expected = [line for line in PASSING.read_text().split() if line]
    regressed = [results[case][2] for case in expected if not results[case][1]]
    assert not regressed, "cases that passed before fail now:\n" + "\n".join(regressed)
    newly = sorted(case for case, (_, ok, _) in results.items() if ok and case not in expected)
    print(f"{len(newly)} cases pass that are not in {PASSING.name} yet: {newly}")
