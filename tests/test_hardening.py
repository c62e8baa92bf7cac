"""Promises kept against unlucky or hostile use: a signal stops a run within a
second with no output, leftovers of killed runs are cleaned, refused runs leave
nothing behind, and a viewer never starts without its token by mistake."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import airr
import pytest
from helpers import SHARED, VIDJIL, SimulatedSample, cannot_run, run_vidjil, shared_path


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


def default_sigint() -> None:
    """In the child, Ctrl-C as at a terminal: a test suite started in the background
    by a shell script inherits SIGINT ignored, and Python then keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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
        [*VIDJIL, "detect", str(long_input), "-o", str(out), "-t", "1"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
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
    expected = [".other.vidjil.k1ll3d.tmp", "s.airr.tsv", "s.clones.parquet", "s.stats.json", "s.vidjil"]
    assert files_under(out) == expected


def test_a_refused_run_leaves_no_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nII\n")  # a quality line too short
    for args in (["--per-read", "-o", str(tmp_path / "a" / "b")], ["-o", str(tmp_path / "c" / "d")]):
        run = run_vidjil("detect", "-q", str(bad), *args)
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert run.stderr.startswith(f"vidjil: error: {bad}: record 2 is truncated or malformed"), run.stderr
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


REFERENCE_FILES = sorted(p.name for p in (SHARED / "formats").glob("*.vidjil"))


@pytest.mark.parametrize("name", REFERENCE_FILES or ["(../shared/formats is absent)"])
def test_the_reference_tools_files_fuse_and_report(name: str, tmp_path: Path) -> None:
    source = shared_path("formats", name)
    fused, rows = tmp_path / "fused.vidjil", tmp_path / "fused.airr.tsv"
    run = run_vidjil("fuse", str(source), "-o", str(fused), "--airr", str(rows), "--diversity", str(tmp_path / "d.tsv"))
    assert run.returncode == 0, run.stderr
    assert airr.validate_rearrangement(str(rows), debug=True)
    for document in (fused, source):  # our fused file, and the reference's own
        run = run_vidjil("report", str(document), "-o", str(tmp_path / "report.html"))
        assert run.returncode == 0, run.stderr
        page = (tmp_path / "report.html").read_text()
        assert "<table id=mrd-summary" in page or "<p id=mrd-none>" in page


def archive_with(path: Path, manifest: dict[str, object], members: dict[str, bytes | int]) -> Path:
    """A set archive: `manifest` as manifest.json, then members (bytes, or a number
    of zero bytes, streamed)."""
    import io
    import json
    import tarfile

    class Zeros(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.left = size

        def readinto(self, buffer: Any) -> int:
            n = min(len(buffer), self.left)
            buffer[:n] = bytes(n)
            self.left -= n
            return n

    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = content if isinstance(content, int) else len(content)
            tar.addfile(info, Zeros(content) if isinstance(content, int) else io.BytesIO(content))
    return path


def manifest_of(files: dict[str, bytes]) -> dict[str, object]:
    entries = [{"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for p, c in files.items()]
    return {"format": "vidjil-sample-set", "version": 1, "set": "P9", "files": entries}


def test_import_refuses_unlisted_unplaced_and_truncated_archives(tmp_path: Path) -> None:
    good = {".runs/r1/run.json": b"{}", "a/samples/S/S.vidjil": b"{}"}
    target = tmp_path / "results"
    cases = {
        "unlisted": (manifest_of(good), {f"files/{p}": c for p, c in good.items()} | {"files/extra.sh": b"rm -rf"}),
        "elsewhere": (manifest_of({"a/samples/S/../../x.vidjil": b"{}"}), {"files/a/samples/S/../../x.vidjil": b"{}"}),
        "not a set file": (manifest_of({"a/samples/S/S.sh": b"x"}), {"files/a/samples/S/S.sh": b"x"}),
        "missing": (manifest_of(good), {"files/.runs/r1/run.json": b"{}"}),
    }
    expected = {
        "unlisted": "files/extra.sh is not listed by the manifest",
        "elsewhere": "not a file of a set where the layout puts it",
        "not a set file": "not a file of a set where the layout puts it",
        "missing": "a/samples/S/S.vidjil is listed but missing",
    }
    for case, (manifest, members) in cases.items():
        archive = archive_with(tmp_path / f"{case}.tar.gz", manifest, dict(members))
        run = run_vidjil("import-set", str(archive), "--results", str(target))
        assert run.returncode == 2 and expected[case] in run.stderr, (case, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1 and not target.exists(), case
    whole = archive_with(tmp_path / "whole.tar.gz", manifest_of(good), {f"files/{p}": c for p, c in good.items()})
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    run = run_vidjil("import-set", str(truncated), "--results", str(target))
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and not target.exists(), run.stderr


def test_import_streams_a_huge_member_in_bounded_memory(tmp_path: Path) -> None:
    size = 300 << 20  # 300 MB of zeros: a 0.3 MB archive
    manifest = manifest_of({"a/samples/S/S.vidjil": b"{}"})
    manifest["files"][0]["size"] = size  # type: ignore[index]
    archive = archive_with(tmp_path / "huge.tar.gz", manifest, {"files/a/samples/S/S.vidjil": size})
    run = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *VIDJIL, "import-set", str(archive), "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
    )
    *message, peak_kb = run.stderr.strip().splitlines()
    assert run.returncode == 2 and "does not match its checksum" in message[0]
    assert int(peak_kb) < 150 * 1024, f"{int(peak_kb) >> 10} MB for a {size >> 20} MB member"


def test_airr_inputs_need_their_columns_and_may_have_no_rows(small_sample: SimulatedSample, tmp_path: Path) -> None:
    partial = tmp_path / "partial.airr.tsv"
    partial.write_text("sequence_id\tv_call\tjunction\nr1\tIGHV3-23*01\tTGTGCGAGA\n")
    run = run_vidjil("fuse", str(partial), "-o", str(tmp_path / "f.vidjil"))
    assert run.returncode == 2 and not (tmp_path / "f.vidjil").exists()
    missing = "no column j_call, duplicate_count or consensus_count"
    assert run.stderr == f"vidjil: error: {partial}: not an AIRR Rearrangement TSV: {missing}\n"
    # A sample without any clone: `detect` writes the header only; it fuses as an empty sample.
    reads = tmp_path / "noise.fa"
    reads.write_text(">n1\n" + "ACGT" * 40 + "\n")
    assert run_vidjil("detect", "-q", str(reads), "-o", str(tmp_path / "empty"), "-b", "E").returncode == 0
    header_only = tmp_path / "empty" / "E.airr.tsv"
    assert len(header_only.read_text().splitlines()) == 1
    run = run_vidjil("fuse", str(header_only), "-o", str(tmp_path / "f.vidjil"))
    assert run.returncode == 0, run.stderr
    fused = json.loads((tmp_path / "f.vidjil").read_text())
    assert fused["reads"]["segmented"] == [0] and fused["clones"] == []


def test_output_into_a_closed_pipe_is_no_traceback(demo: Path) -> None:
    db = demo / "results" / "index.sqlite"
    vidjil = " ".join(VIDJIL)
    for command in (
        f"index show P1 --db {db}",
        f"index list --db {db}",
        f"germline show {demo}/resources/germline/human/homo-sapiens.g",
    ):
        run = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {vidjil} {command} | true"],
            capture_output=True,
            text=True,
        )
        assert "Traceback" not in run.stderr and "Exception" not in run.stderr, run.stderr
        assert run.returncode in (0, 141), run.returncode


@pytest.mark.parametrize(
    "document",
    [
        '{"clones": [{"id": "x"}], "reads": {}}',
        '{"clones": [{"id": "x"}], "reads": {"total": [1], "segmented": [1]}}',
        '{"clones": [7], "reads": {"total": [1], "segmented": [1]}}',
        '{"clones": [], "reads": {"total": ["many"], "segmented": [1]}}',
    ],
)
def test_a_vidjil_file_without_its_fields_is_one_line(document: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.vidjil"
    path.write_text(document)
    run = run_vidjil("fuse", str(path), "-o", str(tmp_path / "f.vidjil"))
    assert run.returncode == 2 and run.stderr.startswith(f"vidjil: error: {path}: not a .vidjil "), run.stderr
    assert run.stderr.count("\n") == 1 and not (tmp_path / "f.vidjil").exists()


def test_a_damaged_index_and_an_impossible_backup_are_one_line(demo: Path, tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    data = bytearray((demo / "results" / "index.sqlite").read_bytes())
    data[len(data) // 3 : len(data) // 3 + 4096] = bytes(4096)  # pages zeroed
    db.write_bytes(bytes(data))
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    for index in (db, garbage):
        for command in (["list"], ["show", "P1"], ["search", "--v", "IGHV1-69"], ["backup", str(tmp_path / "b")]):
            run = run_vidjil("index", *command, "--db", str(index))
            assert run.returncode in (0, 2) and "Traceback" not in run.stderr, (command, run.stderr)
            assert run.returncode == 0 or run.stderr.count("\n") == 1, (command, run.stderr)
    good = demo / "results" / "index.sqlite"
    for dest, message in ((tmp_path / "missing" / "b.sqlite", "no such folder"), (Path("/proc/b.sqlite"), "cannot")):
        run = run_vidjil("index", "backup", str(dest), "--db", str(good))
        assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_the_viewer_never_logs_its_token(demo: Path) -> None:
    import socket
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    secret = "s3cr3t-t0ken-value"
    server = subprocess.Popen(
        [*VIDJIL, "view", str(demo / "results"), "--port", str(port), "--token", secret],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={secret}&x=1", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # it answered (the redirect that sets the cookie leads to a page without it)
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the viewer did not start")
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[1]
    assert "GET /?token=...&x=1" in log, log
    assert secret not in log


def test_the_viewer_answers_odd_ids_and_an_unreadable_index_without_500(demo: Path, tmp_path: Path) -> None:
    import shutil

    from webui import create_app

    results = tmp_path / "results"
    shutil.copytree(demo / "results", results)
    client = create_app(results).test_client()
    for page in (
        "/sample/99999999999999999999",
        "/clone/99999999999999999999/1",
        "/download/result/2" + "0" * 20 + "/airr",
    ):
        assert client.get(page).status_code == 404, page
    (results / "index.sqlite").write_bytes(b"not an index" * 100)
    for page in ("/", "/search?junction_aa=CAR", "/set/P1"):
        assert client.get(page).status_code == 503, page


def test_an_empty_sample_sheet_records_no_run(demo: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\treads\n")
    results = tmp_path / "results"
    results.mkdir()
    run = run_vidjil("index", "add", str(results), "--run", "r1", "--samples", str(sheet))
    assert (
        run.returncode == 2
        and run.stderr == f"vidjil: error: {sheet}: no sample (a header without rows): no run to record\n"
    )
    assert files_under(results) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sample\treads\tsample\nA\ta.fastq.gz\tB\n", "row 1: column 'sample' given twice"),
        ("sample\treads\t\nA\ta.fastq.gz\t\nB\tb.fastq.gz\tX\n", "row 3: a cell under a column without a name"),
    ],
)
def test_a_sheet_with_a_column_given_twice_or_without_a_name_is_one_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(text)
    results = tmp_path / "results"
    results.mkdir()
    run = run_vidjil("index", "add", str(results), "--run", "r1", "--samples", str(sheet))
    assert run.returncode == 2 and run.stderr == f"vidjil: error: {sheet}, {problem}\n"
    assert files_under(results) == []


def test_the_viewer_and_search_work_on_a_read_only_mount(demo: Path, tmp_path: Path) -> None:
    import os
    import shutil
    import sys

    if os.geteuid() != 0 or not shutil.which("unshare"):
        cannot_run("a read-only bind mount needs root and unshare (util-linux)")
    folder = tmp_path / "ro"
    shutil.copytree(demo / "results", folder / "results")
    check = (
        "import sys\n"
        "from webui import create_app\n"
        "client = create_app(sys.argv[1]).test_client()\n"
        "print([client.get(p).status_code for p in ('/', '/set/P1', '/search?junction_aa=CAR', '/sample/1')])\n"
    )
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"! touch {folder}/probe 2>/dev/null && "
        f'{sys.executable} -c "$CHECK" {folder}/results && '
        f"{' '.join(VIDJIL)} index search --junction-aa CAR --db {folder}/results/index.sqlite > /dev/null"
    )
    run = subprocess.run(
        ["unshare", "--mount", "bash", "-c", script], capture_output=True, text=True, env={**os.environ, "CHECK": check}
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[200, 200, 200, 200]"
