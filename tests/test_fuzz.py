"""Fuzzing the command line with damaged inputs of every kind it reads: reads
(FASTQ, FASTA, gzip), germline presets, `.vidjil` files, AIRR TSV, sample sheets
and set archives. Whatever the damage, a command ends with status 0, or 2 and one
line on stderr, never a traceback, and leaves no temporary file behind.

Seeded (`derandomize`): the same examples on every run, whatever tests ran before
and whatever PYTHONHASHSEED; bounded to a few seconds per input kind. For that, an
example is a function of its test alone: Hypothesis's pool of literals from the
code is off here (see `draws_of_the_test_alone`) and the valid inputs hold no
clock time, command line or temporary path."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import SimulatedSample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants

from vidjil.cli import main

EXAMPLES = 100
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def draws_of_the_test_alone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Now and then (5% of its choices) Hypothesis draws a literal of the local
    modules imported so far (vidjil, webui, the `pytest` script; not the tests),
    re-read whenever sys.modules grows. Those depend on the tests run before (one
    that imports webui or vidjil.index), on how pytest was started, on vidjil.cli's
    lazy imports during the first examples and on any edit of those modules: the
    examples changed with the order of the tests. Here that pool is empty (the
    built-in pool of edge values stays). Private API of the pinned Hypothesis: a
    release that moves it fails here rather than silently."""
    providers.CONSTANTS_CACHE.cache.clear()
    monkeypatch.setattr(providers, "_get_local_constants", Constants)
    yield
    providers.CONSTANTS_CACHE.cache.clear()


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    """`valid` with a few byte flips, cuts, insertions or duplications."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def run_cli(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(list(args))
    return status, err.getvalue()


def check(status: int, stderr: str, folder: Path) -> None:
    assert status in (0, 2), (status, stderr)
    if status == 2:
        assert stderr.startswith("vidjil: error: ") and stderr.count("\n") == 1, stderr
    assert not list(folder.rglob("*.tmp")), sorted(folder.rglob("*"))


def fuzzed(valid: bytes, name: str, command: Callable[[Path, Path], list[str]]) -> Callable[[], None]:
    """A test: write a damaged `valid` as `name`, run `command(file, folder)`."""

    @FUZZ
    @given(damaged(valid))
    def case(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            path = folder / name
            path.write_bytes(data)
            check(*run_cli(*command(path, folder)), folder)

    return case


@pytest.fixture(scope="module")
def fastq(small_sample: SimulatedSample) -> bytes:
    lines = gzip.decompress(small_sample.reads.read_bytes()).splitlines(keepends=True)
    return b"".join(lines[: 4 * 30])


def detect(path: Path, folder: Path) -> list[str]:
    return ["detect", "-q", str(path), "-o", str(folder / "out"), "-b", "s"]


def test_damaged_fastq(fastq: bytes, default_germline: Path) -> None:
    fuzzed(fastq, "r.fq", detect)()


def test_damaged_fasta(fastq: bytes, default_germline: Path) -> None:
    lines = fastq.splitlines()
    fasta = b"".join(b">" + lines[k][1:] + b"\n" + lines[k + 1] + b"\n" for k in range(0, len(lines), 4))
    fuzzed(fasta, "r.fa", detect)()


def test_damaged_gzip(fastq: bytes, default_germline: Path) -> None:
    fuzzed(gzip.compress(fastq, mtime=0), "r.fq.gz", detect)()


def test_damaged_germline_preset(default_germline: Path) -> None:
    # Written beside the valid preset, so that its file names still resolve.
    valid = default_germline.read_bytes()

    @FUZZ
    @given(damaged(valid))
    def case(data: bytes) -> None:
        preset = default_germline.with_name("fuzzed.g")
        preset.write_bytes(data)
        try:
            status, stderr = run_cli("germline", "show", str(preset))
        finally:
            preset.unlink()
        check(status, stderr, default_germline.parent)

    case()


@pytest.fixture(scope="module")
def detected(small_sample: SimulatedSample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The detection of the small sample, its clock times, command line (pytest's)
    and input path (temporary) fixed: the fuzzed .vidjil is the same on every run."""
    out = tmp_path_factory.mktemp("detected")
    assert run_cli("detect", "-q", str(small_sample.reads), "-o", str(out), "-b", "s", "--max-clones", "8")[0] == 0
    doc = json.loads((out / "s.vidjil").read_text())
    doc["timestamp"] = "2026-01-12 09:00:00"
    doc["samples"]["run_timestamp"] = [doc["timestamp"]]
    doc["samples"]["commandline"] = ["vidjil detect -q reads.fastq.gz -o out -b s --max-clones 8"]
    for read_file in doc["samples"]["_inputs"][0]:
        read_file["path"] = "reads.fastq.gz"
    (out / "s.vidjil").write_text(json.dumps(doc, indent=1))
    basetemp = str(tmp_path_factory.getbasetemp()).encode()
    assert not any(basetemp in (out / name).read_bytes() for name in ("s.vidjil", "s.airr.tsv"))
    return out


def fuse(path: Path, folder: Path) -> list[str]:
    return ["fuse", str(path), "-o", str(folder / "f.vidjil"), "--airr", str(folder / "f.tsv")]


def test_damaged_vidjil(detected: Path) -> None:
    fuzzed((detected / "s.vidjil").read_bytes(), "s.vidjil", fuse)()


@FUZZ
@given(st.data())
def test_vidjil_with_odd_values(detected: Path, data: st.DataObject) -> None:
    """Valid JSON, any value in any place of a clone or of the read counts."""
    doc = json.loads((detected / "s.vidjil").read_text())
    odd = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers())
    target = data.draw(st.sampled_from(["reads", "clone", "seg"]))
    if target == "reads":
        doc["reads"][data.draw(st.sampled_from(sorted(doc["reads"])))] = data.draw(odd)
    elif target == "clone":
        doc["clones"][0][data.draw(st.sampled_from(sorted(doc["clones"][0])))] = data.draw(odd)
    else:
        doc["clones"][0].setdefault("seg", {})[data.draw(st.sampled_from(["5", "3", "junction"]))] = data.draw(odd)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "s.vidjil").write_text(json.dumps(doc))
        check(*run_cli(*fuse(folder / "s.vidjil", folder)), folder)
        if (folder / "f.vidjil").exists():
            check(*run_cli("report", str(folder / "f.vidjil"), "-o", str(folder / "r.html")), folder)


def test_damaged_airr(detected: Path) -> None:
    fuzzed((detected / "s.airr.tsv").read_bytes(), "s.airr.tsv", fuse)()


def test_damaged_sample_sheet() -> None:
    sheet = b"sample\treads\tsets\tdate\torder\tinfo\nA\ta.fq.gz\tP1\t2026-01-12\t1\tdiagnosis\nB\tb.fq\tP1\t\t2\t\n"

    def add(path: Path, folder: Path) -> list[str]:
        (folder / "results").mkdir(exist_ok=True)
        return ["index", "add", str(folder / "results"), "--run", "r1", "--samples", str(path)]

    fuzzed(sheet, "samples.tsv", add)()


def test_damaged_set_archive() -> None:
    files = {".runs/r1/run.json": b'{"id": "r1"}', "a/samples/S/S.vidjil": b'{"clones": [], "reads": {}}'}
    manifest = {
        "format": "vidjil-sample-set",
        "version": 1,
        "set": "P9",
        "files": [{"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for p, c in files.items()],
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in [("manifest.json", json.dumps(manifest).encode())] + [
            (f"files/{p}", c) for p, c in files.items()
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    def import_set(path: Path, folder: Path) -> list[str]:
        return ["import-set", str(path), "--results", str(folder / "results"), "--dry-run"]

    # Compressed apart, with no time in the gzip header (tarfile's "w:gz" writes the clock's).
    fuzzed(gzip.compress(buffer.getvalue(), mtime=0), "set.tar.gz", import_set)()
