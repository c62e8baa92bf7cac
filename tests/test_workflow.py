"""The Snakemake workflow, run for real in temporary directories: the embedded demo
end to end, a rerun that does nothing, a killed run resumed, a failing sample that
leaves the others' results, and configuration errors caught before any job."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import DEMO_SAMPLES, LOCAL, SNAKEMAKE, SimulatedSample, leukemic_junction, snakemake


def test_demo_results_hold_the_followed_leukemic_clone(demo: Path) -> None:
    results = demo / "results" / "multi+inc"
    stats = json.loads((results / "samples/P1-diagnosis/P1-diagnosis.stats.json").read_text())
    assert stats["reads"]["total"] == 20_000 and stats["reads"]["detected"] > 18_000
    fused = json.loads((results / "sets/P1/P1.fused.vidjil").read_text())
    assert fused["samples"]["original_names"] == DEMO_SAMPLES
    junction = leukemic_junction(demo)
    leukemic = [c for c in fused["clones"] if junction in c["sequence"]]
    assert len(leukemic) == 1 and leukemic[0]["top"] == 1
    fractions = [r / s for r, s in zip(leukemic[0]["reads"], fused["reads"]["segmented"], strict=True)]
    assert 0.15 < fractions[0] < 0.25 and 0.002 < fractions[1] < 0.01 and 0 < fractions[2] < 0.0003
    assert fractions[3] == 0 and 0.0005 < fractions[4] < 0.002  # negative, then a relapse
    run_set = json.loads((results / "sets/run-2026-05/run-2026-05.fused.vidjil").read_text())
    assert run_set["samples"]["original_names"] == ["P1-followup-1", "P1-followup-2"]
    report = (results / "sets/P1/P1.report.html").read_text()
    assert "P1-followup-2" in report and leukemic[0]["name"] in report
    for rule in ("detect/multi+inc/P1-diagnosis", "fuse/multi+inc/P1", "report/multi+inc/P1"):
        assert (demo / "logs" / f"{rule}.log").exists() and (demo / "benchmarks" / f"{rule}.tsv").exists()


def test_demo_run_is_indexed(demo: Path) -> None:
    with sqlite3.connect(demo / "results" / "index.sqlite") as con:
        runs = con.execute("SELECT id, status, snakemake_version, config_sha256 FROM runs").fetchall()
        assert len(runs) == 1 and runs[0][1] == "completed" and runs[0][2].startswith("9.")
        results = con.execute("SELECT analysis, sample, reads_total FROM results ORDER BY sample").fetchall()
        assert [r[:2] for r in results] == [("multi+inc", name) for name in DEMO_SAMPLES]
        for _, name, total in results:
            stats = json.loads((demo / f"results/multi+inc/samples/{name}/{name}.stats.json").read_text())
            assert total == stats["reads"]["total"]
        assert con.execute("SELECT count(*) FROM fused").fetchone() == (3,)  # P1 and two runs


def test_demo_reads_are_byte_identical_and_a_rerun_does_nothing(demo: Path) -> None:
    reads = demo / "resources/demo/reads/P1-followup-2.fastq.gz"
    first = reads.read_bytes()
    run = snakemake(demo, *LOCAL)
    assert run.returncode == 0
    assert "Nothing to be done" in run.stderr
    assert reads.read_bytes() == first
    regenerated = snakemake(demo, *LOCAL, "--forcerun", "demo_reads", "--until", "demo_reads")
    assert regenerated.returncode == 0, regenerated.stderr[-2000:]
    assert reads.read_bytes() == first


def test_a_killed_run_resumes(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*SNAKEMAKE, "-d", str(tmp_path), "--cores", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = tmp_path / "logs" / "demo_reads.log"
    deadline = time.monotonic() + 120
    while not log.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # in the middle of writing the demo's reads
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "results").exists()
    # Snakemake marked the job it was running as incomplete.
    assert any((tmp_path / ".snakemake" / "incomplete").iterdir())
    snakemake(tmp_path, "--unlock")
    run = snakemake(tmp_path, *LOCAL, "--rerun-incomplete")
    assert run.returncode == 0, run.stderr[-3000:]
    fused = json.loads((tmp_path / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    assert fused["reads"]["total"][0] == 20_000


def write_config(workdir: Path, samples: str, sets: str = "set\ttype\nS\tgeneric\n", **extra: str) -> Path:
    (workdir / "samples.tsv").write_text(samples)
    (workdir / "sets.tsv").write_text(sets)
    lines = ["samples: samples.tsv", "sets: sets.tsv", "analyses: [multi]", *(f"{k}: {v}" for k, v in extra.items())]
    config = workdir / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def test_a_failing_sample_fails_alone(tmp_path: Path, small_sample: SimulatedSample) -> None:
    corrupt = tmp_path / "corrupt.fastq.gz"
    corrupt.write_bytes(gzip.compress(b"@r1\nACGT\n+\nIIII\n" * 1000)[:-40])
    config = write_config(
        tmp_path,
        f"sample\treads\tsets\ngood\t{small_sample.reads}\tS\nbad\t{corrupt}\t\n",
    )
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode != 0
    log = (tmp_path / "logs/detect/multi/bad.log").read_text()
    assert str(corrupt) in log and "truncated" in log
    good = tmp_path / "results/multi/samples/good/good.vidjil"
    assert json.loads(good.read_text())["clones"]
    assert (tmp_path / "results/multi/sets/S/S.report.html").exists()
    assert not (tmp_path / "results/multi/samples/bad/bad.vidjil").exists()


@pytest.mark.parametrize(
    ("samples", "extra", "message"),
    [
        ("sample\treads\nA\tmissing.fq.gz\n", {}, "samples.tsv, row 2 (sample 'A'), field 'reads': no such file"),
        ("sample\treads\n", {}, "samples.tsv: no sample (a header without rows)"),
        ("sample\treads\nA\t{reads}\nA\t{reads}\n", {}, "row 3 (sample 'A'), field 'sample': duplicate"),
        ("sample\treads\nA\t{reads}\n", {"analyses": "[IGZ]"}, "field 'analyses': unknown analysis 'IGZ'"),
        ("sample\treads\torder\nA\t{reads}\tfirst\n", {}, "row 2 (sample 'A'), field 'order': 'first' is not of type"),
        ("sample\treads\tsets\nA\t{reads}\tnope\n", {}, "row 2 (sample 'A'), field 'sets': set 'nope' is not in"),
        (
            "sample\treads\treads2\nA\t{reads};{reads}\t{reads}\n",
            {},
            "row 2 (sample 'A'), field 'reads2': 1 file(s) for 2 in 'reads'",
        ),
        ("sample\treads\nA\t{reads}\n", {"fuse": "{top: many}"}, "configuration, field 'fuse.top'"),
        ("sample\treads\tdna_ng\nA\t{reads}\tlots\n", {}, "row 2 (sample 'A'), field 'dna_ng': 'lots' is not of type"),
        ("sample\treads\nA\t{reads}\n", {"mrd": "{marker_fraction: 5}"}, "field 'mrd.marker_fraction'"),
        ("sample\treads\nA\t{reads}\textra\n", {}, "samples.tsv, row 2: 3 cells, more than the columns"),
        ("sample\treads\nA\t{reads}\n", {"detect": "{clone_reads: some}"}, "field 'detect.clone_reads'"),
    ],
)
def test_configuration_errors_stop_before_any_job(
    tmp_path: Path, small_sample: SimulatedSample, samples: str, extra: dict[str, str], message: str
) -> None:
    config = write_config(tmp_path, samples.format(reads=small_sample.reads), **extra)
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode != 0
    assert message in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_a_diagnosis_outside_its_set_stops_before_any_job(tmp_path: Path, small_sample: SimulatedSample) -> None:
    samples = f"sample\treads\tsets\nA\t{small_sample.reads}\tS\nB\t{small_sample.reads}\t\n"
    config = write_config(tmp_path, samples, "set\ttype\tdiagnosis\nS\tpatient\tB\n")
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode != 0
    assert "sets.tsv, row 2 (set 'S'), field 'diagnosis': 'B' is not a sample of the set (A)" in run.stderr
    assert not (tmp_path / "results").exists()


def test_the_workflow_passes_snakemake_lint(tmp_path: Path) -> None:
    run = snakemake(tmp_path, "--lint")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations, your workflow is in a good condition!" in run.stdout + run.stderr


def paired_files(directory: Path, reads: Path) -> tuple[Path, Path]:
    """The reads of `reads` as molecules sequenced 2 x 200."""
    from vidjil.simulate import paired_reads, write_paired_fastq

    with gzip.open(reads, "rt") as handle:
        lines = handle.read().split("\n")
    molecules = ((lines[k][1:], lines[k + 1], "") for k in range(0, len(lines) - 3, 4))
    r1, r2 = directory / "P_R1.fastq.gz", directory / "P_R2.fastq.gz"
    write_paired_fastq(r1, r2, paired_reads(molecules, 200, seed=3))
    return r1, r2


def test_several_read_files_pairs_and_the_order_of_a_set(tmp_path: Path, small_sample: SimulatedSample) -> None:
    reads = small_sample.reads
    r1, r2 = paired_files(tmp_path, reads)
    config = write_config(
        tmp_path,
        "sample\treads\treads2\tsets\tdate\torder\n"
        f"early\t{reads}\t\tS\t2026-01-01\t2\n"
        f"late\t{reads};{reads}\t\tS\t2026-02-01\t1\n"
        f"paired\t{r1}\t{r2}\t\t\t\n",
        **{"detect": "{designate: 5}"},
    )
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode == 0, run.stderr[-3000:]
    single = json.loads((tmp_path / "results/multi/samples/early/early.stats.json").read_text())
    double = json.loads((tmp_path / "results/multi/samples/late/late.stats.json").read_text())
    assert double["reads"]["total"] == 2 * single["reads"]["total"]
    assert [i["path"] for i in double["inputs"]] == [str(reads), str(reads)]
    paired = json.loads((tmp_path / "results/multi/samples/paired/paired.stats.json").read_text())
    assert [(i["path"], i["mate"]) for i in paired["inputs"]] == [(str(r1), "R1"), (str(r2), "R2")]
    assert paired["reads"]["total"] == single["reads"]["total"]
    assert paired["pairs"]["merged"] + paired["pairs"]["not_merged"] == single["reads"]["total"]
    assert paired["pairs"]["merged"] > 0.9 * single["reads"]["total"]
    fused = json.loads((tmp_path / "results/multi/sets/S/S.fused.vidjil").read_text())
    # `order` comes before dates.
    assert fused["samples"]["original_names"] == ["late", "early"]


def test_clone_reads_per_analysis(tmp_path: Path, small_sample: SimulatedSample) -> None:
    """`detect: clone_reads: N` writes the reads of each sample's top N clones (a declared
    output of the detect job); a preset's `clone_reads` overrides it (0: none)."""
    config = write_config(
        tmp_path,
        f"sample\treads\tsets\nA\t{small_sample.reads}\tS\n",
        **{
            "analyses": "[multi, TRGonly]",
            "detect": "{clone_reads: 2}",
            "presets": "{TRGonly: {systems: TRG, clone_reads: 0}}",
        },
    )
    run = snakemake(tmp_path, *LOCAL, "--configfile", str(config))
    assert run.returncode == 0, run.stderr[-3000:]
    sample = tmp_path / "results/multi/samples/A"
    doc = json.loads((sample / "A.vidjil").read_text())
    with gzip.open(sample / "A.clone-reads.fa.gz", "rt") as handle:
        headers = [line for line in handle if line.startswith(">")]
    counts = [sum(f" clone={rank} " in h for h in headers) for rank in (1, 2)]
    assert counts == [c["reads"][0] for c in doc["clones"][:2]] and len(headers) == sum(counts)
    assert not (tmp_path / "results/TRGonly/samples/A/A.clone-reads.fa.gz").exists()
    assert (tmp_path / "results/TRGonly/samples/A/A.vidjil").exists()
    # Already there: a dry run has nothing to do.
    dry = snakemake(tmp_path, *LOCAL, "--configfile", str(config), "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
    # The file belongs to the sample: exported with its set, imported as it was.
    archive = tmp_path / "S.tar.gz"
    vidjil = [sys.executable, "-m", "vidjil.cli"]
    done = subprocess.run(
        [*vidjil, "export-set", "S", "-o", str(archive), "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    target = tmp_path / "imported"
    done = subprocess.run(
        [*vidjil, "import-set", str(archive), "--results", str(target)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    copied = target / "multi/samples/A/A.clone-reads.fa.gz"
    assert copied.read_bytes() == (sample / "A.clone-reads.fa.gz").read_bytes()


def test_snakemake_report_gathers_the_set_reports(demo: Path) -> None:
    import zipfile

    run = snakemake(demo, "--report", "report.zip")
    assert run.returncode == 0, run.stderr[-2000:]
    names = zipfile.ZipFile(demo / "report.zip").namelist()
    assert {Path(n).name for n in names} >= {"P1.report.html", "run-2026-05.report.html", "report.html"}


def test_a_run_report_has_its_contamination_section(demo: Path) -> None:
    """A run set's report shows its contamination table (the demo's runs hold one
    patient: nothing found); a patient's report has no such section."""
    sets = demo / "results" / "multi+inc" / "sets"
    for run in ("run-2026-05", "run-2026-11"):
        page = (sets / run / f"{run}.report.html").read_text()
        assert "<h2 id=contamination>" in page and "No clone of this run found in another patient" in page
    assert "<h2 id=contamination>" not in (sets / "P1" / "P1.report.html").read_text()


def test_fused_leukemic_clone_counts_match_the_truth(demo: Path) -> None:
    """Accuracy of the follow-up: the leukemic clone's reads in every sample within 1%
    of the simulated truth (4,000 reads, then 200, 6, none and 60: about 20%, 0.5%,
    0.01%, 0 and 0.1%)."""
    results = demo / "results" / "multi+inc" / "sets" / "P1"
    fused = json.loads((results / "P1.fused.vidjil").read_text())
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    for name, counted in zip(fused["samples"]["original_names"], leukemic["reads"], strict=True):
        truth = (demo / f"resources/demo/reads/{name}.truth.tsv").read_text().splitlines()
        expected = int(dict(zip(truth[0].split("\t"), truth[1].split("\t"), strict=True))["reads"])
        # Issue 17: 3964/4000, 196/200, 6/6, 0/0, 53/60 before every clone took back its
        # shifted windows and error variants and large clones their reads with two errors
        # in the window; 3993/4000, 200/200, 6/6, 0/0, 60/60 since (the diagnosis still
        # misses 5 reads whose breakpoint moved 25 nt: a clone of its own).
        print(name, counted, expected)
        assert abs(counted - expected) <= 0.01 * expected, (name, counted, expected)
    assert leukemic["_mrd"]["below_limit"] == [False, False, False, True, False]
    assert (results / "P1.fused.airr.tsv").exists()
    diversity = (results / "P1.diversity.tsv").read_text()
    assert "P1-diagnosis\tIGH\tchao1\t" in diversity and "morisita_horn" in diversity
