"""Promises kept against unlucky or hostile use: a signal stops a run within a
second with no output, leftovers of killed runs are cleaned, refused runs leave
nothing behind, and a viewer never starts without its token by mistake."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import VIDJIL, SimulatedSample, run_vidjil


@pytest.fixture(scope="module")
def long_input(small_sample: SimulatedSample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sample 300 times (gzip members concatenated): 1.8 M reads, several
    seconds of detection on one thread."""
    path = tmp_path_factory.mktemp("long") / "long.fastq.gz"
    member = small_sample.reads.read_bytes()
    with open(path, "wb") as handle:
        for _ in range(300):
            handle.write(member)
    return path


def wait_for_progress(run: subprocess.Popen[str]) -> None:
    """Until the engine's progress line shows (about a second in): a signal sent
    then lands mid-run."""
    assert run.stderr is not None
    seen = ""
    while "reads processed" not in seen:
        assert run.poll() is None, "the run ended before it could be interrupted"
        seen += run.stderr.read(1)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize(
    ("sent", "status", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_a_signal_stops_detection_within_a_second_and_leaves_nothing(
    long_input: Path, tmp_path: Path, sent: signal.Signals, status: int, word: str
) -> None:
    out = tmp_path / "new" / "out"
    run = subprocess.Popen(
        [*VIDJIL, "detect", str(long_input), "-o", str(out), "-t", "1"], stderr=subprocess.PIPE, text=True
    )
    wait_for_progress(run)
    sent_at = time.monotonic()
    run.send_signal(sent)
    rest = run.communicate(timeout=30)[1]
    elapsed = time.monotonic() - sent_at
    assert run.returncode == status
    assert elapsed < 1.0, f"stopped {elapsed:.2f} s after the signal"
    assert rest.strip().splitlines()[-1] == f"vidjil: {word}"
    assert not (tmp_path / "new").exists(), files_under(tmp_path)


def test_a_signal_stops_the_per_read_mode_without_a_partial_file(long_input: Path, tmp_path: Path) -> None:
    run = subprocess.Popen(
        [*VIDJIL, "detect", "--per-read", str(long_input), "-o", str(tmp_path / "reads"), "-t", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # designating every read: no progress line before the first batch
    sent_at = time.monotonic()
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    assert run.returncode == 143
    assert time.monotonic() - sent_at < 1.0
    assert files_under(tmp_path / "reads") == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next_one(small_sample: SimulatedSample, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = [out / ".s.vidjil.k1ll3d.tmp", out / ".s.airr.tsv.x9.tmp"]
    other = out / ".other.vidjil.k1ll3d.tmp"  # another output's: not this run's to remove
    for path in [*stale, other]:
        path.write_text("half-written")
    run = run_vidjil("detect", str(small_sample.reads), "-o", str(out), "-b", "s", "-q")
    assert run.returncode == 0, run.stderr
    assert files_under(out) == [".other.vidjil.k1ll3d.tmp", "s.airr.tsv", "s.stats.json", "s.vidjil"]


def test_a_refused_run_leaves_no_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nII\n")  # a quality line too short
    for args in (["--per-read", "-o", str(tmp_path / "a" / "b")], ["-o", str(tmp_path / "c" / "d")]):
        run = run_vidjil("detect", str(bad), *args)
        assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert files_under(tmp_path) == ["bad.fq"]


@pytest.mark.parametrize("token", ["", "  "])
def test_an_empty_token_is_refused(demo: Path, tmp_path: Path, token: str) -> None:
    run = run_vidjil("view", str(demo / "results"), "--token", token)
    assert run.returncode == 2
    assert run.stderr.strip() == "vidjil: error: --token: the token is empty"
    empty = tmp_path / "token"
    empty.write_text(token + "\n")
    run = run_vidjil("view", str(demo / "results"), "--token-file", str(empty))
    assert run.returncode == 2
    assert run.stderr.strip() == f"vidjil: error: {empty}: the token is empty"
