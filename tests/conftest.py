"""Shared fixtures: the reference material in ../shared (skipped when absent,
except in CI where it must be there), the default germline in a private cache,
small simulated samples, the workflow's demo run and a headless browser. The
helper functions are in helpers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CHROMIUM, LOCAL, SimulatedSample, cannot_run, shared_path, simulate_sample, snakemake


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


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    """7 loci x 12 clones, 6,000 reads with errors, both strands, 5% noise."""
    return simulate_sample(
        tmp_path_factory.mktemp("small"), ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"], 12, 6000, seed=11
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
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


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow's embedded demo, run once for the session (workflow, index and
    viewer tests). Tests that change its results work on a copy of them."""
    workdir = tmp_path_factory.mktemp("demo")
    run = snakemake(workdir, *LOCAL)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir
