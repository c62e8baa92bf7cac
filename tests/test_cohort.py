"""Issue 18: each sample's NAME.clones.parquet read back and compared with its AIRR
TSV and its .vidjil clone by clone, and the cohort dataset (RESULTS/cohort) the
workflow writes: hive partitions read with pyarrow.dataset and pandas, rebuilt
from the results, no write when nothing changed, a damaged input one line."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import airr
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from helpers import DEMO_SAMPLES, SimulatedSample, detect, leukemic_junction
from helpers import run_vidjil as run

from vidjil.airr_format import FIELDS
from vidjil.clone_table import EXTRA, field_type

ANALYSIS = "multi+inc"


@pytest.fixture
def results(demo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(demo / "results", copy)
    return copy


def sample_dir(results: Path, sample: str) -> Path:
    return results / ANALYSIS / "samples" / sample


def test_column_types_are_the_airr_schema_types() -> None:
    schema = airr.schema.RearrangementSchema
    for field in FIELDS:
        expected = schema.type(field) if field in schema.properties else None
        if expected:
            assert field_type(field) == expected, field
    assert field_type("vidjil_window_start") == "integer" and field_type("vidjil_evalue") == "number"


@pytest.mark.parametrize("sample", DEMO_SAMPLES)
def test_the_parquet_clone_table_is_the_airr_tsv_and_the_vidjil_clone_by_clone(demo: Path, sample: str) -> None:
    folder = sample_dir(demo / "results", sample)
    table = pq.read_table(folder / f"{sample}.clones.parquet")
    assert table.schema.names == [*FIELDS, *(name for name, _ in EXTRA)]
    types = {"string": "string", "integer": "int64", "number": "double", "boolean": "bool"}
    for field in FIELDS:
        assert str(table.schema.field(field).type) == types[field_type(field)], field
    assert table.schema.metadata[b"sample"] == sample.encode()
    parquet_rows = table.to_pylist()
    # base=0: positions as the file writes them (1-based, as in the Parquet table); the
    # default converts them to Python's 0-based.
    with open(folder / f"{sample}.airr.tsv") as handle:
        tsv_rows = list(airr.io.RearrangementReader(handle, base=0))
    doc = json.loads((folder / f"{sample}.vidjil").read_text())
    assert len(parquet_rows) == len(tsv_rows) == len(doc["clones"]) > 100
    for rank, (row, tsv, clone) in enumerate(zip(parquet_rows, tsv_rows, doc["clones"], strict=True), start=1):
        for field in FIELDS:
            expected = tsv.get(field)
            expected = None if expected == "" else expected
            if field_type(field) == "integer" and isinstance(expected, str):
                expected = int(expected)  # our own fields: the airr package leaves them as text
            if field_type(field) == "number" and isinstance(expected, str):
                expected = float(expected)
            assert row[field] == expected, (sample, rank, field, row[field], expected)
        assert (row["rank"], row["sample"], row["run"]) == (rank, sample, None)
        assert row["duplicate_count"] == clone["reads"][0] and row["vidjil_window"] == clone["id"]
        seg = clone.get("seg") or {}
        if "5" in seg:
            assert row["v_call"] == seg["5"]["name"] and row["j_call"] == seg["3"]["name"]
        if "junction" in seg:
            assert row["productive"] is seg["junction"]["productive"]


def test_the_workflow_writes_the_cohort_dataset(demo: Path) -> None:
    results = demo / "results"
    db = sqlite3.connect(results / "index.sqlite")
    (run_id,) = db.execute("SELECT id FROM runs").fetchone()
    clones = ds.dataset(results / "cohort" / "clones", format="parquet", partitioning="hive")
    assert {"analysis", "run", "sample", "patient", "date", "rank", "junction_aa"} <= set(clones.schema.names)
    table = clones.to_table()
    assert set(table.column("analysis").to_pylist()) == {ANALYSIS} and set(table.column("run").to_pylist()) == {run_id}
    per_sample = {
        s: len(json.loads((sample_dir(results, s) / f"{s}.vidjil").read_text())["clones"]) for s in DEMO_SAMPLES
    }
    assert pd.Series(table.column("sample").to_pylist()).value_counts().to_dict() == per_sample
    # "Every sample of every patient with this junction": the leukemic clone where it is designated.
    (junction_aa,) = {
        r["junction_aa"] for r in table.to_pylist() if r["junction"] == leukemic_junction(demo) and r["junction_aa"]
    }
    found = clones.to_table(
        filter=ds.field("junction_aa") == junction_aa, columns=["patient", "sample", "date", "duplicate_count"]
    ).to_pylist()
    assert [(r["patient"], r["sample"]) for r in found] == [("P1", "P1-diagnosis"), ("P1", "P1-followup-1")]
    assert found[0]["date"] == "2026-01-12" and found[0]["duplicate_count"] > 3900
    # The MRD rows: the index's MRD follow-up, typed, in the second table.
    mrd = pd.read_parquet(results / "cohort" / "mrd")
    expected = pd.read_sql("SELECT * FROM mrd_followup", db)
    assert len(mrd) == len(expected) == 10
    merged = mrd.merge(expected, on=["sample_set", "sample", "marker"], suffixes=("", "_index"))
    assert (merged["status"] == merged["status_index"]).all() and (merged["fraction"] == merged["fraction_index"]).all()
    assert mrd["fraction"].dtype == "float64" and set(mrd["status"]) >= {"positive", "negative"}


def test_the_cohort_is_rebuilt_from_the_results_and_not_written_when_unchanged(results: Path) -> None:
    parts = sorted((results / "cohort").glob("*/analysis=*/run=*/part-0.parquet"))
    assert len(parts) == 2
    stamps = [p.stat().st_mtime_ns for p in parts]
    again = run("cohort", str(results))
    assert again.returncode == 0 and "0 written, 2 unchanged, 0 removed" in again.stderr, again.stderr
    assert [p.stat().st_mtime_ns for p in parts] == stamps
    # A sample gone from the results: the index, then its partition, follow.
    shutil.rmtree(sample_dir(results, "P1-followup-2"))
    assert run("index", "rebuild", str(results)).returncode == 0
    assert "1 written, 1 unchanged" in run("cohort", str(results)).stderr
    samples = set(pd.read_parquet(results / "cohort" / "clones")["sample"])
    assert samples == set(DEMO_SAMPLES) - {"P1-followup-2"}
    # Made again from nothing.
    shutil.rmtree(results / "cohort")
    assert "2 written, 0 unchanged" in run("cohort", str(results)).stderr
    assert set(pd.read_parquet(results / "cohort" / "clones")["sample"]) == samples


def test_an_imported_set_joins_the_cohort_dataset_of_the_folder(demo: Path, tmp_path: Path) -> None:
    """import-set updates the cohort dataset when the results folder has one."""
    archives = {name: tmp_path / f"{name}.tar.gz" for name in ("run-2026-05", "P1")}
    for name, archive in archives.items():
        done = run("export-set", name, "-o", str(archive), "--results", str(demo / "results"))
        assert done.returncode == 0, done.stderr
    target = tmp_path / "lab"
    first = run("import-set", str(archives["run-2026-05"]), "--results", str(target))
    assert first.returncode == 0 and "cohort" not in first.stderr and not (target / "cohort").exists()
    assert run("cohort", str(target)).returncode == 0
    assert set(pd.read_parquet(target / "cohort" / "clones")["sample"]) == {"P1-followup-1", "P1-followup-2"}
    second = run("import-set", str(archives["P1"]), "--results", str(target))
    assert second.returncode == 0 and "cohort dataset: 2 partitions written" in second.stderr, second.stderr
    assert set(pd.read_parquet(target / "cohort" / "clones")["sample"]) == set(DEMO_SAMPLES)
    assert len(pd.read_parquet(target / "cohort" / "mrd")) == 10


def test_a_damaged_clone_table_is_one_line_naming_it(results: Path) -> None:
    shutil.rmtree(results / "cohort")
    damaged = sample_dir(results, "P1-followup-1") / "P1-followup-1.clones.parquet"
    damaged.write_bytes(damaged.read_bytes()[:100])
    done = run("cohort", str(results))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert str(damaged) in done.stderr and "cannot read the clone table" in done.stderr
    assert not list((results / "cohort").glob("**/*.parquet"))


def test_a_cohort_without_an_index_says_so(tmp_path: Path) -> None:
    done = run("cohort", str(tmp_path))
    assert done.returncode == 2 and "no such index" in done.stderr and "vidjil index rebuild" in done.stderr


def test_run_id_fills_the_run_column_and_a_sample_without_clones_has_an_empty_table(
    small_sample: SimulatedSample, tmp_path: Path
) -> None:
    detect(small_sample.reads, tmp_path / "a", "--run-id", "R7", "-q")
    table = pq.read_table(tmp_path / "a" / "s.clones.parquet")
    assert set(table.column("run").to_pylist()) == {"R7"} and table.num_rows > 50
    assert table.column("rank").to_pylist() == list(range(1, table.num_rows + 1))
    # -r above every clone: no clone, a table with its columns and no row.
    detect(small_sample.reads, tmp_path / "b", "-r", "1000000", "-q")
    empty = pq.read_table(tmp_path / "b" / "s.clones.parquet")
    assert empty.num_rows == 0 and empty.schema.names == table.schema.names
