"""The SQLite index of a results folder (`RESULTS/index.sqlite`): runs, sample sets,
samples and their read files, results with checksums, fused sets, and the top
clones of every result, for searches across patients and runs.

`vidjil index add` (the workflow's last, local step) records a run: it writes the
run's description to `RESULTS/.runs/<run>/run.json` (sheets, read files with size
and sha256, provenance), then indexes. `vidjil index rebuild` rebuilds the whole
index from the results tree alone (the run descriptions and the result files), in
one transaction, and writes nothing when nothing changed."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from . import __version__, layout
from .alerts import alert_rows
from .errors import UserError
from .germline import sha256_file as sha256
from .groups import check_name, set_groups
from .mrd import count_unit, locus_reads, mrd_rows, table_counts
from .sheets import read_sheet
from .vidjil_format import clone_locus, junction_nt, read_vidjil

SCHEMA_VERSION = 6
TOP_CLONES = 100


@dataclass(frozen=True)
class TableSpec:
    """A table of the index as sqlite-utils creates it: columns in order with their
    Python types, primary key, foreign keys (column, table, column), indexes."""

    columns: dict[str, type]
    pk: tuple[str, ...]
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    not_null: tuple[str, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()


def _clone_columns(*first: tuple[str, type]) -> dict[str, type]:
    return dict(first) | {
        "rank": int, "locus": str, "v": str, "d": str, "j": str, "junction": str, "junction_aa": str,
        "reads": int, "fraction": float, "productive": int, "locus_fraction": float,
    }  # fmt: skip


# With UMIs (`detect --umi`): a sample's clone molecules and the fraction of its locus's
# molecules they are; NULL for a sample counted in reads.
MOLECULE_COLUMNS: dict[str, type] = {"molecules": int, "locus_molecule_fraction": float}


# Parents before children: rows are written in this order and deleted in the reverse.
TABLES: dict[str, TableSpec] = {
    "runs": TableSpec(
        {
            "id": str,
            "started": str,
            "finished": str,
            "status": str,
            "tool_version": str,
            "snakemake_version": str,
            "config_sha256": str,
            "samples_sha256": str,
            "germline_id": str,
            "germline_checksum": str,
            "profile": str,
            "host": str,
        },
        pk=("id",),
        not_null=("status",),
    ),  # fmt: skip
    "sample_sets": TableSpec({"name": str, "type": str, "info": str}, pk=("name",), not_null=("type",)),
    # The group of each set (vidjil/groups.py: the sets sheet's, or import-set --group's, else 'default').
    "set_groups": TableSpec(
        {"sample_set": str, "group_name": str},
        pk=("sample_set",),
        foreign_keys=(("sample_set", "sample_sets", "name"),),
        not_null=("group_name",),
    ),
    "samples": TableSpec({"name": str, "date": str, "order": int, "info": str}, pk=("name",)),
    "set_members": TableSpec(
        {"sample_set": str, "sample": str, "position": int},
        pk=("sample_set", "sample"),
        foreign_keys=(("sample_set", "sample_sets", "name"), ("sample", "samples", "name")),
        not_null=("position",),
    ),
    "read_files": TableSpec(
        {"run": str, "sample": str, "path": str, "size": int, "sha256": str},
        pk=("run", "sample", "path"),
        foreign_keys=(("run", "runs", "id"), ("sample", "samples", "name")),
    ),
    "results": TableSpec(
        {
            "id": int,
            "run": str,
            "sample": str,
            "analysis": str,
            "vidjil": str,
            "vidjil_sha256": str,
            "airr": str,
            "airr_sha256": str,
            "reads_total": int,
            "reads_analysed": int,
            "clones": int,
            "germline_id": str,
            "molecules": int,  # with UMIs: the sample's molecules (every clone), else NULL
        },
        pk=("id",),
        foreign_keys=(("run", "runs", "id"), ("sample", "samples", "name")),
        not_null=("run", "sample", "analysis", "vidjil", "vidjil_sha256"),
        indexes=(("sample",),),
        unique=(("run", "analysis", "sample"),),
    ),  # fmt: skip
    # count_unit: what the set's counts are ('reads', or 'molecules' when fused in
    # molecules): its followed clones' and MRD rows' `reads` and `locus_reads` hold them.
    "fused": TableSpec(
        {"id": int, "run": str, "sample_set": str, "analysis": str, "vidjil": str, "sha256": str, "count_unit": str},
        pk=("id",),
        foreign_keys=(("run", "runs", "id"), ("sample_set", "sample_sets", "name")),
        not_null=("run", "sample_set", "analysis", "vidjil", "sha256", "count_unit"),
        unique=(("run", "analysis", "sample_set"),),
    ),
    "clones": TableSpec(
        _clone_columns(("result", int)) | MOLECULE_COLUMNS,
        pk=("result", "rank"),
        foreign_keys=(("result", "results", "id"),),
        not_null=("reads", "fraction"),
        indexes=(("junction_aa",), ("junction",), ("v",)),
    ),
    "followed": TableSpec(
        _clone_columns(("fused", int), ("sample", str)),
        pk=("fused", "sample", "rank"),
        foreign_keys=(("fused", "fused", "id"), ("sample", "samples", "name")),
        not_null=("reads", "fraction"),
        indexes=(("junction_aa",), ("junction",), ("v",)),
    ),
    "set_files": TableSpec(
        {"fused": int, "kind": str, "path": str, "sha256": str},
        pk=("fused", "kind"),
        foreign_keys=(("fused", "fused", "id"),),
        not_null=("path", "sha256"),
    ),
    "mrd": TableSpec(
        {
            "fused": int,
            "sample": str,
            "marker": int,
            "locus": str,
            # In the unit of count_unit ('reads', or 'molecules' for a set fused in molecules).
            "reads": int,
            "locus_reads": int,
            "count_unit": str,
            "fraction": float,
            "cell_equivalents": float,
            "lod": float,
            "loq": float,
            "status": str,
            "replicate": str,
        },
        pk=("fused", "sample", "marker"),
        foreign_keys=(("fused", "fused", "id"),),
        not_null=("reads", "locus_reads", "count_unit", "fraction", "lod", "loq", "status"),
        indexes=(("status",),),
    ),  # fmt: skip
    "alerts": TableSpec(
        {"fused": int, "position": int, "sample": str, "clone": int, "code": str, "message": str},
        pk=("fused", "position"),
        foreign_keys=(("fused", "fused", "id"),),
        not_null=("sample", "clone", "code", "message"),
        indexes=(("code",),),
    ),
}
# Substring searches of junctions: trigram full-text tables over the clone tables
# (external content), kept up to date by sqlite-utils' triggers.
FTS_COLUMNS = ["junction", "junction_aa"]
FTS_SOURCES = ["clones", "followed"]
FTS_TABLES = [f"{name}_fts" for name in FTS_SOURCES]
# Views for people who query the index themselves (docs/admin.md, sqlite-utils).
VIEWS = {
    "sample_clones": """SELECT r.run, r.analysis, r.sample, s.date, c.rank, c.locus, c.v, c.d, c.j, c.junction,
        c.junction_aa, c.reads, c.fraction, c.locus_fraction, c.productive, c.molecules, c.locus_molecule_fraction
        FROM clones c JOIN results r ON r.id = c.result JOIN samples s ON s.name = r.sample""",
    "patient_samples": """SELECT m.sample_set AS patient, m.position, s.name AS sample, s.date, s.info
        FROM set_members m JOIN sample_sets t ON t.name = m.sample_set AND t.type = 'patient'
        JOIN samples s ON s.name = m.sample""",
    "run_samples": """SELECT u.id AS run, u.started, u.finished, u.status, r.analysis, r.sample, r.reads_total,
        r.reads_analysed, r.clones, r.molecules FROM runs u JOIN results r ON r.run = u.id""",
    "mrd_followup": """SELECT f.sample_set, f.analysis, f.run, t.sample, s.date, t.marker, t.locus, t.reads,
        t.locus_reads, t.count_unit, t.fraction, t.cell_equivalents, t.lod, t.loq, t.status, t.replicate
        FROM mrd t JOIN fused f ON f.id = t.fused LEFT JOIN samples s ON s.name = t.sample""",
}


def _schema_version(database: Database) -> int | None:
    if not database["meta"].exists():
        return None
    row = database.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def _create_schema(database: Database) -> None:
    """Tables, indexes, full-text tables and views of the current schema."""
    with database.atomic():
        for old in [*VIEWS, *FTS_TABLES, *reversed(TABLES), "meta"]:
            database.execute(f"DROP {'VIEW' if old in VIEWS else 'TABLE'} IF EXISTS [{old}]")
        database.table("meta").create({"key": str, "value": str}, pk="key", not_null={"value"})
        for name, spec in TABLES.items():
            table = database.table(name)
            table.create(
                spec.columns,
                pk=spec.pk[0] if len(spec.pk) == 1 else spec.pk,
                foreign_keys=list(spec.foreign_keys),
                not_null=set(spec.not_null),
            )
            for columns in spec.indexes:
                table.create_index(columns)
            for columns in spec.unique:
                table.create_index(columns, unique=True)
        for name in FTS_SOURCES:
            database.table(name).enable_fts(FTS_COLUMNS, tokenize="trigram", create_triggers=True)
        for name, sql in VIEWS.items():
            database.create_view(name, sql)
        database.table("meta").insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})


def open_index(db: Path) -> Database:
    """The index for writing, created or migrated to the current schema; WAL:
    readers see the state before or after a write, never half of it."""
    con = sqlite3.connect(db, timeout=30)
    database = Database(con)
    database.execute("PRAGMA foreign_keys = ON")
    database.enable_wal()
    version = _schema_version(database)
    if version is not None and version > SCHEMA_VERSION:
        con.close()
        raise UserError(f"{db}: index schema {version} is newer than this tool's ({SCHEMA_VERSION}): upgrade vidjil")
    if version != SCHEMA_VERSION:
        # Every table is derived from the results tree: an older index is rebuilt.
        _create_schema(database)
    return database


def write_rows(database: Database, rows: dict[str, list[tuple[Any, ...]]]) -> bool:
    """Bring every table to `rows` in one transaction: rows gone are deleted, new ones
    inserted, changed ones upserted (by primary key); nothing is written when
    nothing changed. Returns whether something changed."""
    changes = {name: _changes(database, name, rows[name]) for name in TABLES}
    changes = {name: change for name, change in changes.items() if any(change)}
    if not changes:
        return False
    with database.atomic():  # one transaction: readers see the old or the new index
        for name in reversed(TABLES):
            if name in changes and changes[name][0]:
                where = " AND ".join(f"[{c}] = ?" for c in TABLES[name].pk)
                database.conn.executemany(f"DELETE FROM [{name}] WHERE {where}", changes[name][0])
        for name, spec in TABLES.items():
            if name in changes:
                _write_table(database, name, spec, changes[name], len(rows[name]))
    return True


def _changes(
    database: Database, name: str, wanted_rows: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(primary keys of rows gone, new rows, changed rows) of table `name`."""
    spec = TABLES[name]
    columns = list(spec.columns)
    key = [columns.index(c) for c in spec.pk]
    listed = ", ".join(f"[{c}]" for c in columns)
    current = {tuple(r[k] for k in key): tuple(r) for r in database.execute(f"SELECT {listed} FROM [{name}]")}
    wanted = {tuple(r[k] for k in key): tuple(r) for r in wanted_rows}
    gone = [k for k in current if k not in wanted]
    new = [r for k, r in wanted.items() if k not in current]
    changed = [r for k, r in wanted.items() if k in current and current[k] != r]
    return gone, new, changed


def _write_table(
    database: Database,
    name: str,
    spec: TableSpec,
    change: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]],
    size: int,
) -> None:
    """New rows of a table inserted, changed ones upserted. A clone table whose rows
    mostly change (a first build) is written without its full-text triggers, then
    its full-text table made anew: 2.3x faster than row by row (1,000 samples)."""
    gone, new, changed = change
    bulk = name in FTS_SOURCES and 4 * (len(gone) + len(new) + len(changed)) > size
    if bulk:
        for suffix in ("ai", "ad", "au"):
            database.execute(f"DROP TRIGGER IF EXISTS [{name}_{suffix}]")
    if new:
        marks = ", ".join("?" * len(spec.columns))
        database.conn.executemany(f"INSERT INTO [{name}] VALUES ({marks})", new)
    if changed:
        pk = spec.pk[0] if len(spec.pk) == 1 else spec.pk
        # Batches of 1,000 rows keep a statement's parameters below SQLite's limit.
        database.table(name).upsert_all([list(spec.columns), *changed], pk=pk, batch_size=1000)
    if bulk:
        database.table(name).enable_fts(FTS_COLUMNS, tokenize="trigram", create_triggers=True, replace=True)


def _read_sheet(path: Path) -> list[dict[str, str]]:
    return [dict(row) for row in read_sheet(path).to_dict("records")]


def _described_sets(sets_sheet: Path) -> list[dict[str, Any]]:
    """The sets of a sets sheet as a run records them (a group named as groups are)."""
    sets = []
    for n, r in enumerate(_read_sheet(sets_sheet), start=2):
        if r.get("group"):
            check_name(r["group"], f"{sets_sheet}, row {n}: group")
        if r.get("set"):
            kind, info, group = r.get("type", "generic"), r.get("info") or None, r.get("group") or None
            sets.append({"name": r["set"], "type": kind, "info": info, "group": group})
    return sets


def describe_run(
    run: str, samples_sheet: Path | None, sets_sheet: Path | None, info: dict[str, str], results: Path
) -> dict[str, Any]:
    """The run description stored with the results: sheets, read files (size, sha256)."""
    samples = []
    rows = _read_sheet(samples_sheet) if samples_sheet else []
    if samples_sheet and not rows:
        raise UserError(f"{samples_sheet}: no sample (a header without rows): no run to record")
    for n, row in enumerate(rows, start=2):
        if not row.get("sample"):
            raise UserError(f"{samples_sheet}, row {n}: no sample name (a 'sample' column is needed)")
    for row in rows:
        files = []
        listed = f"{row.get('reads', '')};{row.get('reads2', '')}"
        for read in (r.strip() for r in listed.split(";") if r.strip()):
            path = Path(read)
            files.append(
                {
                    "path": read,
                    "size": path.stat().st_size if path.exists() else None,
                    "sha256": sha256(path) if path.exists() else None,
                }
            )
        samples.append(
            {
                "name": row["sample"],
                "sets": [s.strip() for s in row.get("sets", "").split(";") if s.strip()],
                "date": row.get("date") or None,
                "order": int(row["order"]) if row.get("order", "").lstrip("-").isdigit() else None,
                "info": row.get("info") or None,
                "reads": files,
            }
        )
    sets = _described_sets(sets_sheet) if sets_sheet else []
    now = datetime.now(UTC)
    # Without a start time given, the oldest result of the run's samples tells it.
    names = {s["name"] for s in samples}
    stamps = [path.stat().st_mtime for _, sample, path in layout.sample_stats(results) if sample in names]
    started = datetime.fromtimestamp(min(stamps), UTC) if stamps else now
    return {
        "id": run,
        "started": info.get("started", started.strftime("%Y-%m-%d %H:%M:%S")),
        "finished": info.get("finished", now.strftime("%Y-%m-%d %H:%M:%S")),
        "status": info.get("status", "completed"),
        "tool_version": __version__,
        "snakemake_version": info.get("snakemake_version"),
        "config_sha256": info.get("config_sha256"),
        "samples_sha256": info.get("samples_sha256"),
        "profile": info.get("profile"),
        "host": info.get("host", socket.gethostname()),
        "samples": samples,
        "sets": sets,
    }


def _clone_fields(clone: dict[str, Any], reads: int, segmented: int, locus_total: int) -> tuple[Any, ...]:
    """locus, V, D, J, junction nt and aa, reads, fraction, productive, fraction of
    its locus of a clone."""
    seg = clone.get("seg") or {}
    junction = seg.get("junction") or {}
    return (
        clone_locus(clone),
        seg.get("5", {}).get("name"),
        seg.get("4", {}).get("name"),
        seg.get("3", {}).get("name"),
        junction_nt(clone) or None,
        junction.get("aa"),
        reads,
        reads / (segmented or 1),
        None if not junction else int(bool(junction.get("productive"))),
        reads / locus_total if locus_total else None,
    )


def sample_molecules(doc: dict[str, Any]) -> tuple[int, dict[str, int]] | None:
    """A sample's molecules (`detect --umi`): (every clone's, per AIRR locus), or None."""
    molecules = doc.get("molecules")
    if not isinstance(molecules, dict):
        return None
    segmented = molecules.get("segmented")
    total = segmented[0] if isinstance(segmented, list) and segmented else None
    if not isinstance(total, int):
        return None
    by_locus = locus_reads({"reads": {"segmented": [total], "germline": molecules.get("germline", {})}})
    return total, {locus: counts[0] for locus, counts in by_locus.items()}


def _clone_molecules(clone: dict[str, Any], locus_molecules: dict[str, int] | None) -> tuple[Any, Any]:
    """The molecules of a clone and their fraction of its locus's, (None, None) without UMIs."""
    molecules = clone.get("molecules")
    if locus_molecules is None or not isinstance(molecules, list) or not molecules:
        return None, None
    total = locus_molecules.get(clone_locus(clone), 0)
    return molecules[0], molecules[0] / total if total else None


def _clone_rows(doc: dict[str, Any], result_id: int) -> Iterator[tuple[Any, ...]]:
    segmented = doc["reads"]["segmented"][0]
    by_locus = locus_reads(doc)
    umi = sample_molecules(doc)
    for rank, clone in enumerate(doc["clones"][:TOP_CLONES], start=1):
        total = by_locus.get(clone_locus(clone), [0])[0]
        fields = _clone_fields(clone, clone["reads"][0], segmented, total)
        yield (result_id, rank, *fields, *_clone_molecules(clone, umi[1] if umi else None))


def _followed_rows(doc: dict[str, Any], fused_id: int) -> Iterator[tuple[Any, ...]]:
    """The clones a fused set follows, one row per sample where they have reads:
    a clone too small to be designated in a follow-up sample is found through the
    sample where it was large (MRD)."""
    names = doc["samples"]["original_names"]
    segmented = doc["reads"]["segmented"]
    by_locus = locus_reads(doc)
    for clone in doc["clones"][:TOP_CLONES]:
        totals = by_locus.get(clone_locus(clone), [0] * len(names))
        for name, reads, total, locus_total in zip(names, clone["reads"], segmented, totals, strict=False):
            if reads:
                yield (fused_id, name, clone["top"], *_clone_fields(clone, reads, total, locus_total))


def _mrd_rows(doc: dict[str, Any], fused_id: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The MRD values and the alerts of a fused set."""
    _, rows = mrd_rows(doc)
    mrd = [
        (fused_id, r["sample"], r["marker"], r["locus"], *table_counts(r), r["fraction"],
         r["cell_equivalents"], r["lod"], r["loq"], r["status"], r["replicate"] or None)
        for r in rows
    ]  # fmt: skip
    _, alerts = alert_rows(doc)
    return mrd, [(fused_id, n, a["sample"], a["clone"], a["code"], a["message"]) for n, a in enumerate(alerts, 1)]


class _Ids:
    """Ids of results or fused sets: the known one of a key, else a new one."""

    def __init__(self, known: dict[tuple[str, ...], int]) -> None:
        self.known = known
        self.last = max(known.values(), default=0)

    def __call__(self, key: tuple[str, ...]) -> int:
        if key not in self.known:
            self.last += 1
            self.known[key] = self.last
        return self.known[key]


def index_rows(
    results: Path, known_ids: dict[str, dict[tuple[str, ...], int]] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the index, from the results tree: runs from `.runs/*/run.json`,
    results from `<analysis>/samples/<sample>/<sample>.stats.json` (attributed to the
    last run that lists the sample), fused sets from `<analysis>/sets/<set>/`.
    Results and fused sets keep the ids of `known_ids`, new ones come after."""
    known_ids = known_ids or {}
    result_ids, fused_ids = _Ids(dict(known_ids.get("results", {}))), _Ids(dict(known_ids.get("fused", {})))
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    runs = layout.read_run_descriptions(results)
    runs.sort(key=lambda r: (r.get("finished") or "", r["id"]))
    sample_run: dict[str, str] = {}
    set_run: dict[str, str] = {}
    sets: dict[str, tuple[Any, ...]] = {}
    set_group: dict[str, str | None] = {}
    samples: dict[str, tuple[Any, ...]] = {}
    members: dict[tuple[str, str], int] = {}
    for run in runs:
        germline_id = germline_checksum = None
        rows["read_files"] += [
            (run["id"], s["name"], f["path"], f["size"], f["sha256"]) for s in run["samples"] for f in s["reads"]
        ]
        for s in run["sets"]:
            sets[s["name"]] = (s["name"], s["type"], s["info"])
            set_group[s["name"]] = s.get("group")
            set_run[s["name"]] = run["id"]
        positions: dict[str, int] = {}
        ordered = sorted(run["samples"], key=lambda s: (s["order"] or 0, s["date"] or ""))
        for s in ordered:
            samples[s["name"]] = (s["name"], s["date"], s["order"], s["info"])
            sample_run[s["name"]] = run["id"]
            for set_name in s["sets"]:
                positions[set_name] = positions.get(set_name, 0) + 1
                members[(set_name, s["name"])] = positions[set_name]
        rows["runs"].append(
            (run["id"], run["started"], run["finished"], run["status"], run["tool_version"], run["snakemake_version"],
             run["config_sha256"], run["samples_sha256"], germline_id, germline_checksum, run["profile"], run["host"])
        )  # fmt: skip
    germline_of_run: dict[str, tuple[str, str]] = {}
    for analysis, sample, stats_path in layout.sample_stats(results):
        if sample not in sample_run:
            continue  # results of a run whose description is gone
        try:
            stats = json.loads(stats_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{stats_path}: unreadable stats ({exc})") from None
        vidjil = results / layout.sample_file(analysis, sample, "vidjil")
        airr = results / layout.sample_file(analysis, sample, "airr")
        if not vidjil.exists():
            continue
        doc = read_vidjil(vidjil)
        umi = sample_molecules(doc)
        run = sample_run[sample]
        result_id = result_ids((run, analysis, sample))
        germline_of_run[run] = (stats["germline"]["id"], stats["germline"].get("checksum", ""))
        rows["results"].append(
            (result_id, run, sample, analysis, str(vidjil.relative_to(results)), sha256(vidjil),
             str(airr.relative_to(results)) if airr.exists() else None, sha256(airr) if airr.exists() else None,
             stats["reads"]["total"], stats["reads"]["detected"], stats["clones"]["reported"], stats["germline"]["id"],
             umi[0] if umi else None)
        )  # fmt: skip
        rows["clones"] += list(_clone_rows(doc, result_id))
    rows["runs"] = [r[:8] + germline_of_run.get(r[0], (None, None)) + r[10:] for r in rows["runs"]]
    for analysis, set_name, path in layout.fused_sets(results):
        if set_name in set_run:
            fused_id = fused_ids((set_run[set_name], analysis, set_name))
            doc = read_vidjil(path)
            rows["fused"].append(
                (fused_id, set_run[set_name], set_name, analysis, str(path.relative_to(results)), sha256(path),
                 count_unit(doc))
            )  # fmt: skip
            rows["followed"] += [r for r in _followed_rows(doc, fused_id) if r[1] in samples]
            mrd, alerts = _mrd_rows(doc, fused_id)
            rows["mrd"] += mrd
            rows["alerts"] += alerts
            for kind in layout.SET_FILES:
                table = results / layout.set_file(analysis, set_name, kind)
                if kind != "vidjil" and table.is_file():
                    rows["set_files"].append((fused_id, kind, str(table.relative_to(results)), sha256(table)))
    rows["sample_sets"] = sorted(sets.values())
    rows["set_groups"] = sorted(set_groups(results, set_group).items())
    rows["samples"] = sorted(samples.values())
    rows["set_members"] = sorted((k[0], k[1], v) for k, v in members.items() if k[0] in sets)
    # A read file entry whose sample was described by a later run belongs to that run only.
    rows["read_files"] = sorted({r for r in rows["read_files"] if sample_run.get(r[1]) == r[0]})
    return rows


# Longest piece of a searched text the full-text table is asked for: each trigram of
# nucleotides is in most junctions, so fewer trigrams are faster; the rows found
# are then checked for the whole text.
FTS_PIECE = 12


def _substring(column: str, text: str, table: str) -> tuple[str, list[str]]:
    """(condition, arguments) matching rows of `table` whose `column` contains
    `text`, any case: candidates from the trigram full-text table (3 letters or
    more), then the whole text checked; a scan below 3 letters."""
    scan = f"instr(upper(c.{column}), ?) > 0"
    if len(text) < 3:
        return scan, [text.upper()]
    piece = text[:FTS_PIECE].replace('"', '""')
    fts = f"c.rowid IN (SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ?)"
    return f"{fts} AND {scan}", [f'{column}:"{piece}"', text.upper()]


def _set_aside_if_corrupt(db: Path) -> Path | None:
    """Move an index SQLite cannot read (or that fails its integrity check) out of
    the way, with its WAL files, so that it can be rebuilt. Returns where it went."""
    if not db.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            if con.execute("PRAGMA quick_check").fetchone()[0] == "ok":
                return None
        finally:
            con.close()
    except sqlite3.DatabaseError:
        pass
    aside = db.with_name(f"{db.name}.corrupt-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    for suffix in ("", "-wal", "-shm"):
        part = db.with_name(db.name + suffix)
        if part.exists():
            part.rename(aside.with_name(aside.name + suffix))
    print(f"vidjil index: {db} is corrupt: moved to {aside}, rebuilding", file=sys.stderr)
    return aside


def rebuild(results: Path, db: Path) -> dict[str, Any]:
    """(Re)build the index from the results tree; no write when nothing changed. A
    corrupt index is set aside (`index.sqlite.corrupt-<time>`) and built anew."""
    if not results.is_dir():
        raise UserError(f"{results}: no such results folder")
    _set_aside_if_corrupt(db)
    database = open_index(db)
    try:
        rows = index_rows(results, _known_ids(database))
        changed = write_rows(database, rows)
        return {"changed": changed} | {t: len(v) for t, v in rows.items()}
    finally:
        database.close()


def _known_ids(database: Database) -> dict[str, dict[tuple[str, ...], int]]:
    """The ids of the results and fused sets already indexed, by (run, analysis,
    sample or set): a rebuild keeps them, so that adding a run upserts its own rows
    only."""
    return {
        table: {tuple(r[1:]): r[0] for r in database.execute(f"SELECT id, run, analysis, [{name}] FROM [{table}]")}
        for table, name in (("results", "sample"), ("fused", "sample_set"))
    }


def add_run(
    results: Path,
    db: Path,
    run: str,
    info: dict[str, str],
    samples_sheet: Path | None = None,
    sets_sheet: Path | None = None,
) -> dict[str, Any]:
    """Record run `run`: its description into `results/.runs/<run>/run.json`, then
    the index brought up to date with the results tree."""
    from .atomic import atomic_outputs

    if not results.is_dir():
        raise UserError(f"{results}: no such results folder")
    description = describe_run(run, samples_sheet, sets_sheet, info, results)
    with atomic_outputs() as outputs:
        outputs.write(results / layout.run_description(run), lambda h: json.dump(description, h, indent=1))
    return rebuild(results, db)


def connect_read_only(db: Path, timeout: float = 30) -> sqlite3.Connection:
    """A read-only connection. On a read-only filesystem (a results folder mounted
    read-only for the viewer) SQLite cannot make the `-shm` file WAL readers need:
    the database is then opened as immutable, which no one can change there anyway."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return con
    except sqlite3.OperationalError:
        con.close()
        if os.access(db.parent, os.W_OK):
            raise
    return sqlite3.connect(f"file:{db}?immutable=1", uri=True, timeout=timeout)


def open_reader(db: Path) -> sqlite3.Connection:
    """A read-only connection to an index of the current schema."""
    if not db.exists():
        raise UserError(f"{db}: no such index")
    try:
        con = connect_read_only(db)
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{db}: the index cannot be read ({exc}): run `vidjil index rebuild`") from None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None or int(row[0]) != SCHEMA_VERSION:
        con.close()
        found = row[0] if row else "none"
        raise UserError(f"{db}: index schema {found}, this tool reads {SCHEMA_VERSION}: run `vidjil index rebuild`")
    return con


def next_string(prefix: str) -> str:
    """The smallest string above every string that starts with `prefix` (its last
    character incremented): `v >= prefix AND v < next_string(prefix)` is a prefix
    search that uses the index."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def search(db: Path, junction_aa: str | None, junction: str | None, v: str | None) -> list[dict[str, Any]]:
    """Every sample of every run where a clone was found whose junction (amino acids
    or nucleotides) contains this text (any case), or whose V gene starts with
    this name (`IGHV3` finds IGHV3-23*01; with an allele, that allele only),
    largest fraction first. A hit of a set (`found_in` 'set NAME') has its rank in
    the set and its `fused` id; a sample's own hit, its rank in the sample and its
    `result` id."""
    if not db.exists():
        raise UserError(f"{db}: no such index")

    def conditions(table: str) -> tuple[list[str], list[Any]]:
        # A literal substring ('*' and '#' are junction characters, not wildcards),
        # case-insensitive: the trigram full-text table, quoted.
        where: list[str] = []
        args: list[Any] = []
        for column, text in (("junction_aa", junction_aa), ("junction", junction)):
            if text:
                condition, arguments = _substring(column, text, table)
                where.append(condition)
                args += arguments
        if v:
            if "*" in v:
                where.append("c.v = ?")
                args.append(v)
            else:  # a prefix: a range of the index
                where.append("c.v >= ? AND c.v < ?")
                args += [v, next_string(v)]
        return where, args

    if not (junction_aa or junction or v):
        raise UserError("index search: give --junction-aa, --junction or --v")
    con = open_reader(db)
    columns = "c.rank, c.locus, c.v, c.d, c.j, c.junction_aa, c.reads, c.fraction, c.productive"
    in_samples, sample_args = conditions("clones")
    in_sets, set_args = conditions("followed")
    query = (
        f"SELECT r.run, r.analysis, r.sample, 'sample' AS found_in, NULL, r.id, NULL, {columns}"
        f" FROM clones c JOIN results r ON r.id = c.result WHERE {' AND '.join(in_samples)}"
        f" UNION ALL SELECT f.run, f.analysis, c.sample, 'set ' || f.sample_set, f.sample_set, NULL, f.id, {columns}"
        f" FROM followed c JOIN fused f ON f.id = c.fused WHERE {' AND '.join(in_sets)}"
    )
    args = sample_args + set_args
    keys = ["run", "analysis", "sample", "found_in", "sample_set", "result", "fused", "rank", "locus", "v", "d", "j",
            "junction_aa", "reads", "fraction", "productive"]  # fmt: skip
    try:
        hits: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in con.execute(query, args):
            hit = dict(zip(keys, row, strict=True))
            # A sample's own designated clone first, else the set that follows it.
            key = (hit["run"], hit["analysis"], hit["sample"], hit["junction_aa"], hit["v"])
            if key not in hits or (hits[key]["found_in"] != "sample" and hit["found_in"] == "sample"):
                hits[key] = hit
        return sorted(hits.values(), key=lambda h: (-h["fraction"], h["sample"], h["run"]))
    finally:
        con.close()


def listing(db: Path) -> dict[str, list[dict[str, Any]]]:
    con = open_reader(db)
    con.row_factory = sqlite3.Row
    try:
        return {
            "runs": [
                dict(r)
                for r in con.execute(
                    "SELECT id, started, finished, status, tool_version, germline_id FROM runs ORDER BY finished"
                )
            ],
            "sets": [
                dict(r)
                for r in con.execute(
                    "SELECT s.name, s.type, s.info, count(m.sample) AS samples FROM sample_sets s"
                    " LEFT JOIN set_members m ON m.sample_set = s.name GROUP BY s.name ORDER BY s.name"
                )
            ],
            "samples": [
                dict(r)
                for r in con.execute(
                    "SELECT s.name, s.date, group_concat(DISTINCT r.analysis) AS analyses,"
                    " max(r.reads_total) AS reads_total, count(r.id) AS results"
                    " FROM samples s LEFT JOIN results r ON r.sample = s.name"
                    " GROUP BY s.name ORDER BY s.name"
                )
            ],
        }
    finally:
        con.close()


def show_set(db: Path, name: str) -> dict[str, Any]:
    con = open_reader(db)
    con.row_factory = sqlite3.Row
    try:
        row = con.execute("SELECT * FROM sample_sets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UserError(f"{db}: no sample set '{name}'")
        samples = [
            dict(r)
            for r in con.execute(
                "SELECT m.position, s.name, s.date, s.info FROM set_members m JOIN samples s ON s.name = m.sample"
                " WHERE m.sample_set = ? ORDER BY m.position",
                (name,),
            )
        ]
        results = [
            dict(r)
            for r in con.execute(
                "SELECT r.run, r.analysis, r.sample, r.vidjil, r.reads_total, r.reads_analysed, r.clones, r.germline_id"
                " FROM results r"
                " JOIN set_members m ON m.sample = r.sample WHERE m.sample_set = ? ORDER BY m.position, r.analysis",
                (name,),
            )
        ]
        fused = [
            dict(r)
            for r in con.execute("SELECT run, analysis, vidjil, sha256 FROM fused WHERE sample_set = ?", (name,))
        ]
        by_fused = "FROM {} t JOIN fused f ON f.id = t.fused WHERE f.sample_set = ? ORDER BY f.analysis, f.run"
        tables = [
            dict(r) for r in con.execute("SELECT f.analysis, t.kind, t.path " + by_fused.format("set_files"), (name,))
        ]
        mrd = [
            dict(r)
            for r in con.execute(
                "SELECT f.analysis, t.sample, t.marker, t.locus, t.reads, t.count_unit, t.fraction, t.lod, t.loq,"
                " t.status " + by_fused.format("mrd"),
                (name,),
            )
        ]
        alerts = [
            dict(r)
            for r in con.execute(
                "SELECT f.analysis, t.sample, t.clone, t.code, t.message " + by_fused.format("alerts"), (name,)
            )
        ]
        return {
            "set": dict(row),
            "samples": samples,
            "results": results,
            "fused": fused,
            "files": tables,
            "mrd": mrd,
            "alerts": alerts,
        }
    finally:
        con.close()


def backup(db: Path, dest: Path) -> dict[str, Any]:
    """SQLite online backup (consistent while others write), then an integrity
    check of the copy; written to a temporary name, renamed when good."""
    if not db.exists():
        raise UserError(f"{db}: no such index")
    if dest.is_dir():
        dest = dest / db.name
    if not dest.parent.is_dir():
        raise UserError(f"{dest.parent}: no such folder for the backup")
    tmp = dest.with_name(f".{dest.name}.tmp")
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(tmp)
        with target:
            source.backup(target)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        target.execute("PRAGMA journal_mode = DELETE")
        target.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{dest}: cannot write the backup of {db} ({exc})") from None
    finally:
        source.close()
    if check != "ok":
        tmp.unlink(missing_ok=True)
        # SQLite may report several problems in one multi-line row: one line for the user.
        problems = "; ".join(line.strip() for line in str(check).splitlines() if line.strip())
        raise UserError(f"{dest}: the backup copy fails its integrity check: {problems}")
    tmp.replace(dest)
    return {"backup": str(dest), "integrity": check, "size": dest.stat().st_size}
