"""Helpers shared by the test modules (`from helpers import ...`; pytest puts tests/
on the import path): the command line and the workflow of this checkout, the
reference material of ../shared, FASTA reading and simulated samples. Fixtures
are in conftest.py."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VIDJIL = [sys.executable, "-m", "vidjil.cli"]
CHROMIUM = Path("/usr/bin/chromium")


def cannot_run(reason: str) -> NoReturn:
    """Skip a test whose real component is missing here; in CI, where `make test`
    installs every one, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A file of ../shared (the test cannot run without it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        cannot_run(f"{path} is not available (../shared is absent)")
    return path


# The command line.


def run_vidjil(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The `vidjil` command line of this checkout, as a user runs it."""
    return subprocess.run(
        [*VIDJIL, *args], input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=600
    )


def detect(sample: Path | str, out: Path, *extra: str) -> dict[str, Any]:
    """`vidjil detect SAMPLE -o OUT -b s EXTRA...`, which must succeed: its s.vidjil."""
    result = run_vidjil("detect", str(sample), "-o", str(out), "-b", "s", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "s.vidjil").read_text())


# The Snakemake workflow, run for real in temporary folders.

SNAKEMAKE = [str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile")]
LOCAL = ["--profile", str(ROOT / "profiles" / "local"), "--cores", "2"]


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SNAKEMAKE, "-d", str(workdir), *args], capture_output=True, text=True, timeout=timeout)


# The samples of the workflow's demo (vidjil/demo.py FOLLOWUP), in order.
DEMO_SAMPLES = ["P1-diagnosis", "P1-followup-1", "P1-followup-2", "P1-followup-3", "P1-followup-4"]


def leukemic_junction(workdir: Path) -> str:
    """The junction (nt) of the demo's leukemic clone, from the truth of its simulation."""
    truth = (workdir / "resources/demo/reads/P1-diagnosis.truth.tsv").read_text().splitlines()
    header = truth[0].split("\t")
    first = dict(zip(header, truth[1].split("\t"), strict=True))
    assert first["clone_id"] == "IGH-1"
    return first["junction"]


# Reads.


def read_fasta(path: Path) -> list[tuple[str, str]]:
    """(header, sequence) records; '#' lines are comments."""
    records: list[tuple[str, str]] = []
    header: str | None = None
    seq: list[str] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(">"):
            if header is not None:
                records.append((header, "".join(seq)))
            header, seq = line[1:], []
        else:
            seq.append(line)
    if header is not None:
        records.append((header, "".join(seq)))
    return records


def expected_locus(header: str) -> str | None:
    """The locus a should-locus header expects: `[IGH]` or `name__IGH`."""
    match = re.search(r"\[([^\]]+)\]", header)
    if match:
        return match.group(1)
    if "__" in header:
        return header.split("__")[-1].split()[0]
    return None


@dataclass
class SimulatedSample:
    reads: Path
    truth: Path
    clones: list[dict[str, str]]


def simulate_sample(
    directory: Path, loci: list[str], per_locus: int, reads: int, seed: int, **spec: float
) -> SimulatedSample:
    from vidjil.simulate import (
        ReadSpec,
        clone_sizes,
        generate_reads,
        simulate_clones,
        write_fastq,
        write_truth,
    )

    clones = simulate_clones(loci, per_locus, seed=seed, shm=False)
    sizes = clone_sizes(len(clones), reads, random.Random(seed))
    fastq = directory / f"sim{seed}.fastq.gz"
    write_fastq(fastq, generate_reads(clones, sizes, seed, ReadSpec(**spec)))  # type: ignore[arg-type]
    truth = directory / f"sim{seed}.truth.tsv"
    write_truth(truth, clones, sizes)
    with open(truth) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return SimulatedSample(fastq, truth, rows)


# The viewer, served for a browser.


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """A WSGI app served on a free local port in a thread: its base URL."""
    from werkzeug.serving import make_server

    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}"
    finally:
        http.shutdown()
