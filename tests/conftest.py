"""Shared fixtures: the reference material in ../shared (skipped when absent,
except in CI where it must be there), the default germline in a private cache,
and small simulated samples."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VIDJIL52 = SHARED / "germline" / "vidjil-52" / "homo-sapiens.g"
VIDJIL = [sys.executable, "-m", "vidjil.cli"]


def run_vidjil(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The `vidjil` command line of this checkout, as a user runs it."""
    return subprocess.run(
        [*VIDJIL, *args], input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=600
    )


def cannot_run(reason: str) -> NoReturn:
    """Skip a test whose real component is missing here; in CI, where `make test`
    installs every one, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        cannot_run(f"{path} is not available (../shared is absent)")
    return path


@pytest.fixture(scope="session")
def vidjil52() -> Path:
    return shared_path("germline", "vidjil-52", "homo-sapiens.g")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default germline is built into a cache private to the test session."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["VIDJIL_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def default_germline(private_cache: Path) -> Path:
    from vidjil.germline import default_germline

    return default_germline("human")


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
    import csv

    with open(truth) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return SimulatedSample(fastq, truth, rows)


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    """7 loci x 12 clones, 6,000 reads with errors, both strands, 5% noise."""
    return simulate_sample(
        tmp_path_factory.mktemp("small"), ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"], 12, 6000, seed=11
    )


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Any:
    """Headless Chromium from Debian, driven by Playwright (no browser download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    if not CHROMIUM.exists():
        cannot_run(f"{CHROMIUM} is not installed (Debian package chromium; `make system-deps` as root)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


# The Snakemake workflow, run for real in temporary folders.
SNAKEMAKE = [str(Path(sys.executable).parent / "snakemake"), "-s", str(ROOT / "workflow" / "Snakefile")]
LOCAL = ["--profile", str(ROOT / "profiles" / "local"), "--cores", "2"]


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SNAKEMAKE, "-d", str(workdir), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow's embedded demo, run once for the workflow and index tests."""
    workdir = tmp_path_factory.mktemp("demo")
    run = snakemake(workdir, *LOCAL)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir


def leukemic_junction(workdir: Path) -> str:
    truth = (workdir / "resources/demo/reads/P1-diagnosis.truth.tsv").read_text().splitlines()
    header = truth[0].split("\t")
    first = dict(zip(header, truth[1].split("\t"), strict=True))
    assert first["clone_id"] == "IGH-1"
    return first["junction"]
