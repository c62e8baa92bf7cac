"""`vidjil doctor` on a real installation and results, and on broken copies of them:
one line per check, exit 1 on a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import run_vidjil

from vidjil.germline import default_germline
from vidjil.index import SCHEMA_VERSION


def doctor(*args: str) -> tuple[int, dict[str, list[str]]]:
    """Exit status, and the lines of each status (ok, warn, FAIL)."""
    run = run_vidjil("doctor", *args)
    lines: dict[str, list[str]] = {"ok": [], "warn": [], "FAIL": []}
    for line in run.stdout.splitlines():
        lines[line[:4].strip()].append(line[6:])
    assert run.stderr.strip().startswith("vidjil doctor:"), run.stderr
    return run.returncode, lines


@pytest.fixture
def results(demo: Path, tmp_path: Path) -> Path:
    """A copy of the demo's results (the index's paths are relative to it)."""
    copy = tmp_path / "results"
    shutil.copytree(demo / "results", copy)
    return copy


def test_a_sound_installation_passes(results: Path) -> None:
    status, lines = doctor("--results", str(results), "--min-free-gb", "0.01")
    assert status == 0 and lines["FAIL"] == []
    names = [line.split(":")[0] for line in lines["ok"]]
    for name in ("engine", "germline", "snakemake", "snakemake-executor-plugin-slurm", "index", "disk"):
        assert name in names, lines
    assert any(line.startswith("index:") and f"schema {SCHEMA_VERSION}" in line for line in lines["ok"]), lines["ok"]
    assert any(line.startswith("results germline: 5 sample results made with genairr-") for line in lines["ok"])


def test_the_workflow_germline_of_the_working_folder_is_checked(demo: Path) -> None:
    status, lines = doctor("--results", str(demo / "results"), "--min-free-gb", "0.01")
    assert status == 0
    built = demo / "resources" / "germline" / "human" / "homo-sapiens.g"
    assert (
        [line for line in lines["ok"] if line.startswith("germline:")]
        == [line for line in lines["ok"] if line.startswith(f"germline: {built}: genairr-")]
        != []
    )


def test_a_changed_germline_file_fails(tmp_path: Path, results: Path) -> None:
    germline = tmp_path / "germline"
    shutil.copytree(default_germline().parent, germline)
    fasta = next(germline.rglob("IGHV.fa"))
    fasta.write_text(fasta.read_text().replace("A", "G", 1))
    status, lines = doctor("-g", str(next(germline.glob("*.g"))), "--results", str(results), "--min-free-gb", "0.01")
    assert status == 1
    assert [line for line in lines["FAIL"] if line.startswith("germline:")] == [
        f"germline: {germline}: {fasta.relative_to(germline)} changed (checksums of MANIFEST.json)"
    ]


def test_a_germline_without_manifest_is_a_warning(tmp_path: Path, results: Path) -> None:
    germline = tmp_path / "germline"
    shutil.copytree(default_germline().parent, germline)
    (germline / "MANIFEST.json").unlink()
    status, lines = doctor("-g", str(next(germline.glob("*.g"))), "--results", str(results), "--min-free-gb", "0.01")
    assert status == 0
    assert any("no MANIFEST.json" in line for line in lines["warn"])


def test_a_corrupt_index_fails_until_rebuilt(results: Path) -> None:
    (results / "index.sqlite").write_bytes(b"not a database" * 100)
    for extra in ("index.sqlite-wal", "index.sqlite-shm"):
        (results / extra).unlink(missing_ok=True)
    status, lines = doctor("--results", str(results), "--min-free-gb", "0.01")
    assert status == 1 and any("vidjil index rebuild" in line for line in lines["FAIL"])
    rebuilt = run_vidjil("index", "rebuild", str(results))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "is corrupt: moved to" in rebuilt.stderr
    assert len(list(results.glob("index.sqlite.corrupt-*"))) == 1
    assert doctor("--results", str(results), "--min-free-gb", "0.01")[0] == 0


def test_missing_result_files_and_a_full_disk_fail(results: Path) -> None:
    victim = next(results.rglob("P1-followup-1.vidjil"))
    victim.unlink()
    status, lines = doctor("--results", str(results), "--min-free-gb", "1e9")
    assert status == 1
    failed = {line.split(":")[0]: line for line in lines["FAIL"]}
    assert "indexed result files missing" in failed["index"] and "P1-followup-1.vidjil" in failed["index"]
    assert "GB free" in failed["disk"]
