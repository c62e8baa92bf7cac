"""`vidjil cohort RESULTS`: the Parquet dataset of a results folder, for questions
across years of runs in pandas, pyarrow, DuckDB, Spark or Dask:

    RESULTS/cohort/clones/analysis=A/run=R/part-0.parquet   every clone of every sample
    RESULTS/cohort/mrd/analysis=A/run=R/part-0.parquet      the MRD rows of the fused sets

Hive-partitioned by analysis and run (the run a sample belongs to in the index).
Clone rows are the samples' `NAME.clones.parquet` tables (AIRR columns with their
types, rank, sample) with `run` from the index, the sample's `date` and its
`patient` (its set of type patient, if any), and `molecules` (the clone's
`umi_count` with UMIs, else null); MRD rows are the index's `mrd_followup` view
(their `count_unit` says whether `reads` and `locus_reads` are reads or molecules).
Made from the index and the result files alone: a partition
whose inputs did not change is not written again (its inputs' digest is kept in
the file's metadata); each file is written to a temporary name, then renamed."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import layout
from .errors import UserError
from .layout import COHORT

if TYPE_CHECKING:
    import pyarrow as pa

PART = "part-0.parquet"
DIGEST_KEY = b"vidjil_inputs_sha256"
# Columns added to each sample's clone table.
SAMPLE_COLUMNS = ["date", "patient"]
# The clone's molecules (`umi_count` of a sample of `detect --umi`), null without UMIs.
MOLECULES = "molecules"
# Part of every partition's digest: a dataset written by an older version (other
# columns) is written again.
DATASET_VERSION = "2"


def _partition(root: Path, table: str, analysis: str, run: str) -> Path:
    return root / table / f"analysis={analysis}" / f"run={run}" / PART


def _sample_rows(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Each indexed result with its run, date and patient (the first of its sets of
    type patient, by name)."""
    con.row_factory = sqlite3.Row
    patients = {r[0]: r[1] for r in con.execute("SELECT sample, min(patient) FROM patient_samples GROUP BY sample")}
    query = """SELECT r.run, r.analysis, r.sample, r.vidjil, r.vidjil_sha256, s.date
        FROM results r JOIN samples s ON s.name = r.sample ORDER BY r.analysis, r.run, r.sample"""
    return [dict(row) | {"patient": patients.get(row["sample"])} for row in con.execute(query)]


def _mrd_rows(con: sqlite3.Connection) -> list[dict[str, Any]]:
    con.row_factory = sqlite3.Row
    return [dict(r) for r in con.execute("SELECT * FROM mrd_followup ORDER BY analysis, run, sample_set, marker")]


def _clone_table_path(results: Path, row: dict[str, Any]) -> Path:
    return results / layout.sample_file(row["analysis"], row["sample"], "parquet")


def _digest(parts: list[str]) -> bytes:
    return hashlib.sha256("\n".join([DATASET_VERSION, *parts]).encode()).hexdigest().encode()


def _unchanged(path: Path, digest: bytes) -> bool:
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return False
    return metadata.get(DIGEST_KEY) == digest


def _write(table: pa.Table, path: Path, digest: bytes) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = table.replace_schema_metadata((table.schema.metadata or {}) | {DIGEST_KEY: digest})
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _clone_table(results: Path, rows: list[dict[str, Any]]) -> pa.Table:
    """The clone tables of a partition's samples, one after the other, with their
    run, date and patient (the partition columns analysis and run are in the path)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def read(row: dict[str, Any]) -> pa.Table:
        path = _clone_table_path(results, row)
        try:
            return pq.read_table(path)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the clone table ({exc}): run the sample's detection again") from None

    # pyarrow reads without the GIL: the files of a partition are read on all cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        read_tables = list(pool.map(read, rows))
    tables = []
    for row, table in zip(rows, read_tables, strict=True):
        table = table.drop_columns([c for c in ("run", *SAMPLE_COLUMNS, MOLECULES) if c in table.column_names])
        n = table.num_rows
        for column in SAMPLE_COLUMNS:
            table = table.append_column(column, pa.array([row[column]] * n, pa.string()))
        umi = table.column("umi_count").cast(pa.int64()) if "umi_count" in table.column_names else None
        table = table.append_column(MOLECULES, umi if umi is not None else pa.nulls(n, pa.int64()))
        tables.append(table.replace_schema_metadata(None))
    return pa.concat_tables(tables, promote_options="permissive")


def rebuild(results: Path, db: Path | None = None) -> dict[str, int]:
    """The cohort dataset of `results` brought up to date with its index. Returns
    the partitions written, unchanged and removed."""
    import pyarrow as pa

    db = db or layout.index_db(results)
    if not db.is_file():
        raise UserError(f"{db}: no such index: run `vidjil index rebuild {results}` first")
    from .index import open_reader

    con = open_reader(db)
    try:
        samples, mrd = _sample_rows(con), _mrd_rows(con)
    finally:
        con.close()
    root = results / COHORT
    wanted: dict[Path, tuple[bytes, Any]] = {}
    by_partition: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in samples:
        if _clone_table_path(results, row).is_file():
            by_partition[(row["analysis"], row["run"])].append(row)
    for (analysis, run), rows in by_partition.items():
        digest = _digest([f"{r['sample']}\t{r['vidjil_sha256']}\t{r['date']}\t{r['patient']}" for r in rows])
        wanted[_partition(root, "clones", analysis, run)] = (digest, lambda rows=rows: _clone_table(results, rows))
    mrd_partitions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in mrd:
        mrd_partitions[(row.pop("analysis"), row.pop("run"))].append(row)
    for (analysis, run), rows in mrd_partitions.items():
        digest = _digest([repr(sorted(r.items())) for r in rows])
        wanted[_partition(root, "mrd", analysis, run)] = (digest, lambda rows=rows: pa.Table.from_pylist(rows))
    counts = {"written": 0, "unchanged": 0, "removed": 0}
    for path, (digest, make) in sorted(wanted.items()):
        if _unchanged(path, digest):
            counts["unchanged"] += 1
            continue
        _write(make(), path, digest)
        counts["written"] += 1
    for path in sorted(root.glob(f"*/analysis=*/run=*/{PART}")) if root.is_dir() else []:
        if path not in wanted:
            path.unlink()
            counts["removed"] += 1
            for folder in (path.parent, path.parent.parent):
                if not any(folder.iterdir()):
                    folder.rmdir()
    return counts


def run_cohort(results: Path, db: Path | None, quiet: bool) -> None:
    if not results.is_dir():
        raise UserError(f"{results}: no such results folder")
    counts = rebuild(results, db)
    if not quiet:
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        print(f"cohort: {results / COHORT}: partitions {summary}", file=sys.stderr)
