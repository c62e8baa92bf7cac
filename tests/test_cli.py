"""`vidjil detect` end to end: outputs, formats, determinism, streams and bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import airr
import pytest
from helpers import SimulatedSample, detect, shared_path
from helpers import run_vidjil as run


@pytest.fixture(scope="module")
def small_run(small_sample: SimulatedSample, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = run("detect", str(small_sample.reads), "-o", str(out), "-b", "s", "-t", "2")
    assert result.returncode == 0, result.stderr
    assert "reads processed" in result.stderr
    return out


def test_outputs_and_vidjil_format(small_run: Path, small_sample: SimulatedSample) -> None:
    doc = json.loads((small_run / "s.vidjil").read_text())
    assert doc["vidjil_json_version"] == "2016b"
    reads = doc["reads"]
    in_file = gzip.decompress(small_sample.reads.read_bytes()).count(b"\n") // 4
    assert reads["total"] == [in_file]
    assert 0.9 * reads["total"][0] < reads["segmented"][0] < reads["total"][0]
    assert sum(v[0] for v in reads["germline"].values()) == reads["segmented"][0]
    assert set(reads["germline"]) >= {"IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD", "unexpected"}
    assert doc["samples"]["number"] == 1 and doc["samples"]["original_names"] == ["s"]
    assert "vidjil detect" in doc["samples"]["commandline"][0] or "cli" in doc["samples"]["commandline"][0]
    assert doc["germlines"]["ref"].startswith("genairr-2.3.1/")
    assert doc["germlines"]["checksum"].startswith("sha256:")
    clones = doc["clones"]
    assert [c["top"] for c in clones] == list(range(1, len(clones) + 1))
    counts = [c["reads"][0] for c in clones]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 5
    top = clones[0]
    assert len(top["id"]) == 50 and top["id"] in top["sequence"]
    window = top["seg"]["window"]
    assert top["sequence"][window["start"] - 1 : window["stop"]] == top["id"]
    assert float(top["seg"]["evalue"]["val"]) < 1e-10
    # the largest simulated clone is the top clone, and its junction is in the representative
    biggest = max(small_sample.clones, key=lambda c: int(c["reads"]))
    assert biggest["junction"] in top["sequence"]
    assert top["germline"] == biggest["locus"]


def test_vidjil_shape_matches_the_reference(small_run: Path) -> None:
    ours = json.loads((small_run / "s.vidjil").read_text())
    reference = json.loads(shared_path("formats", "results_five_segmented_clones.vidjil").read_text())
    for key in ("vidjil_json_version", "samples", "reads", "germlines", "diversity", "clones"):
        assert key in ours and key in reference
    for key in ("total", "segmented", "germline"):
        assert type(ours["reads"][key]) is type(reference["reads"][key])
    ref_clone, our_clone = reference["clones"][0], ours["clones"][0]
    for key in ("id", "reads", "top", "germline", "sequence", "seg", "name"):
        assert type(our_clone[key]) is type(ref_clone[key]), key
    # The designation boxes carry at least the reference's fields, of the same types.
    for box in ("5", "3", "junction", "cdr3", "evalue"):
        for key, value in ref_clone["seg"][box].items():
            assert type(our_clone["seg"][box][key]) is type(value), (box, key)
    assert set(ours["diversity"]) >= set(reference["diversity"])


def test_airr_output_validates(small_run: Path) -> None:
    path = small_run / "s.airr.tsv"
    assert airr.validate_rearrangement(str(path), debug=True)
    rows = list(airr.read_rearrangement(str(path)))
    doc = json.loads((small_run / "s.vidjil").read_text())
    assert len(rows) == len(doc["clones"])
    first = rows[0]
    assert first["clone_id"] == "1" and first["duplicate_count"] == doc["clones"][0]["reads"][0]
    assert first["locus"] in ("IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD")
    assert first["vidjil_window"] in first["sequence"]


def test_stats(small_run: Path) -> None:
    stats = json.loads((small_run / "s.stats.json").read_text())
    assert stats["reads"]["total"] == stats["inputs"][0]["reads"]
    undetected = sum(v["reads"] for v in stats["undetected"].values())
    assert undetected + stats["reads"]["detected"] == stats["reads"]["total"]
    # the 5% random reads are mostly 'too few V/J'
    assert stats["undetected"]["too-few-vj"]["reads"] >= 0.8 * 316
    assert stats["germline"]["id"].startswith("genairr-2.3.1/")
    assert stats["timings"]["germline_load_seconds"] < 1
    assert 10 < stats["peak_memory_mb"] < 2000
    assert stats["version"] and stats["engine_version"]


def test_same_result_whatever_the_threads_and_the_stream(small_sample: SimulatedSample, tmp_path: Path) -> None:
    one = detect(small_sample.reads, tmp_path / "one", "-t", "1", "-q")
    two = detect(small_sample.reads, tmp_path / "two", "-t", "2", "-q")
    raw = gzip.decompress(small_sample.reads.read_bytes())
    piped = run("detect", "-", "-o", str(tmp_path / "pipe"), "-b", "s", "-q", stdin=raw)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == ""
    pipe = json.loads((tmp_path / "pipe" / "s.vidjil").read_text())

    def key(doc: dict[str, Any]) -> list[tuple[str, int, str]]:
        return [(c["id"], c["reads"][0], c["sequence"]) for c in doc["clones"]]

    assert key(one) == key(two) == key(pipe)
    assert one["reads"] == two["reads"] == pipe["reads"]


def test_several_files_add_up(small_sample: SimulatedSample, tmp_path: Path) -> None:
    doc = detect(small_sample.reads, tmp_path, "-q")
    both = run("detect", str(small_sample.reads), str(small_sample.reads), "-o", str(tmp_path / "2"), "-b", "s", "-q")
    assert both.returncode == 0
    doubled = json.loads((tmp_path / "2" / "s.vidjil").read_text())
    assert doubled["reads"]["total"][0] == 2 * doc["reads"]["total"][0]
    # twice each read: the same clones with twice the reads (to the merge of single reads)
    assert doubled["clones"][0]["id"] == doc["clones"][0]["id"]
    assert (
        abs(doubled["clones"][0]["reads"][0] - 2 * doc["clones"][0]["reads"][0]) <= 0.01 * doc["clones"][0]["reads"][0]
    )
    stats = json.loads((tmp_path / "2" / "s.stats.json").read_text())
    assert [i["reads"] for i in stats["inputs"]] == [doc["reads"]["total"][0]] * 2


def test_min_reads_and_max_clones(small_sample: SimulatedSample, tmp_path: Path) -> None:
    doc = detect(small_sample.reads, tmp_path, "-q", "-r", "50", "--max-clones", "3")
    assert len(doc["clones"]) == 3 and all(c["reads"][0] >= 50 for c in doc["clones"])


GOOD_FASTQ = b"@r1\nACGTACGTACGTACGTACGTACGTACGTACGTACGT\n+\n" + b"I" * 36 + b"\n"


def varied_fastq(n: int) -> bytes:
    import random

    rng = random.Random(1)
    return b"".join(
        b"@r%d\n%s\n+\n%s\n" % (i, "".join(rng.choice("ACGT") for _ in range(100)).encode(), b"I" * 100)
        for i in range(n)
    )


TRUNCATED_GZ = gzip.compress(varied_fastq(2000))


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text.fq", b"hello, this is not sequence data\n", "not a FASTA or FASTQ"),
        ("trunc.fq.gz", TRUNCATED_GZ[: len(TRUNCATED_GZ) // 2], "truncated or corrupt gzip"),
        (
            "corrupt.fq.gz",
            TRUNCATED_GZ[:5000] + bytes(200) + TRUNCATED_GZ[5200:],
            "truncated or corrupt gzip",
        ),
        ("empty.fa", b"", "empty file"),
        ("letters.fa", b">r1\nACGTACGT\n>r2\nACGT1CGT\n", "record 2 ('r2'): '1' is not a nucleotide"),
        ("cut.fq", GOOD_FASTQ + b"@r2\nACGT\n+\nII", "quality length"),
    ],
)
def test_bad_reads(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "out"
    result = run("detect", str(path), "-o", str(out), "-q")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and message in lines[0]
    assert not out.exists()
    assert path.read_bytes() == content


@pytest.mark.parametrize(
    "germline, message",
    [("/nowhere/x.g", "/nowhere/x.g: cannot read germline preset"), ("{bad}", "malformed germline preset")],
)
def test_bad_germline(small_sample: SimulatedSample, tmp_path: Path, germline: str, message: str) -> None:
    if germline == "{bad}":
        bad = tmp_path / "bad.g"
        bad.write_text("{not json")
        germline, message = str(bad), f"{bad}: {message}"
    out = tmp_path / "out"
    result = run("detect", str(small_sample.reads), "-g", germline, "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not out.exists()


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    result = run("detect", str(tmp_path / "none.fq"), "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "none.fq: cannot open" in result.stderr
    result = run("detect", str(tmp_path / "none.fq"), "-o", str(tmp_path / "o"), "--window", "80")
    assert result.returncode == 2
    bad_window = run("detect", "-", "-o", str(tmp_path / "o"), "--window", "80", stdin=GOOD_FASTQ)
    assert bad_window.returncode == 2 and "--window" in bad_window.stderr
    assert run("detect", "-o", str(tmp_path)).returncode == 2
    assert not (tmp_path / "o").exists()


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("vidjil ") and "genairr-2.3.1" in result.stdout


def test_memory_bound_on_distinct_windows(small_sample: SimulatedSample, tmp_path: Path) -> None:
    full = detect(small_sample.reads, tmp_path / "full", "-q")
    bounded = detect(small_sample.reads, tmp_path / "bounded", "-q", "--max-windows", "300", "-t", "1")
    again = detect(small_sample.reads, tmp_path / "again", "-q", "--max-windows", "300", "-t", "2")
    stats = json.loads((tmp_path / "bounded" / "s.stats.json").read_text())
    full_stats = json.loads((tmp_path / "full" / "s.stats.json").read_text())
    assert full_stats["windows"]["distinct"] > 300
    assert stats["windows"]["dropped_for_memory"] > 0
    assert stats["windows"]["reads_dropped_for_memory"] > 0
    # with 300 windows for 735, the large clones keep at least 95% of their reads (shifted
    # single reads are dropped before they can be merged); threads do not change the result
    assert [c["id"] for c in bounded["clones"][:5]] == [c["id"] for c in full["clones"][:5]]
    for ours, reference in zip(bounded["clones"][:5], full["clones"][:5], strict=True):
        assert ours["reads"][0] >= 0.95 * reference["reads"][0]
    assert [(c["id"], c["reads"]) for c in bounded["clones"]] == [(c["id"], c["reads"]) for c in again["clones"]]


def test_unwritable_output_is_refused_before_any_work(small_sample: SimulatedSample, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    result = run("detect", str(small_sample.reads), "-o", str(a_file), "-q")
    assert result.returncode == 2 and "not a folder" in result.stderr and result.stderr.count("\n") == 1
    result = run("detect", str(small_sample.reads), "-o", "/proc/vidjil-test/out", "-q")
    assert result.returncode == 2 and result.stderr.startswith("vidjil: error: /proc/vidjil-test/out")
    assert a_file.read_text() == "not a folder"


def test_demo_reads_are_byte_identical(tmp_path: Path) -> None:
    from vidjil.demo import make_demo_reads

    first = make_demo_reads(tmp_path / "a", reads=2000)
    second = make_demo_reads(tmp_path / "b", reads=2000)
    assert first.read_bytes() == second.read_bytes()
    truth = (tmp_path / "a" / "demo.truth.tsv").read_text().splitlines()
    leukemic = truth[1].split("\t")
    assert leukemic[0] == "IGH-1" and int(leukemic[8]) == 400
    others = truth[2:]
    assert others and all(int(row.split("\t")[8]) < 400 for row in others)
