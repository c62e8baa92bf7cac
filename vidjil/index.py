"""`vidjil index add`: record a workflow run and its results in the SQLite index of
the results folder (`RESULTS/index.sqlite`): the run (tool version, config and
sample-sheet checksums, host), each sample's result files with their checksums and
read counts, and the fused files of the sets. Idempotent for a run id."""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UserError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, recorded TEXT NOT NULL, status TEXT NOT NULL, tool_version TEXT NOT NULL,
    snakemake_version TEXT, config_sha256 TEXT, samples_sha256 TEXT, profile TEXT, host TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, analysis TEXT NOT NULL, sample TEXT NOT NULL,
    vidjil TEXT NOT NULL, sha256 TEXT NOT NULL, reads_total INTEGER, reads_detected INTEGER, clones INTEGER,
    germline TEXT, PRIMARY KEY (run, analysis, sample)
);
CREATE TABLE IF NOT EXISTS fused (
    run TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, analysis TEXT NOT NULL, sample_set TEXT NOT NULL,
    vidjil TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (run, analysis, sample_set)
);
CREATE INDEX IF NOT EXISTS results_sample ON results(sample);
"""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript(SCHEMA)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    return con


def add_run(results: Path, db: Path, run: str, info: dict[str, str]) -> dict[str, int]:
    """Record run `run` from `results/<analysis>/samples/<sample>/<sample>.stats.json`
    and `results/<analysis>/sets/<set>/<set>.fused.vidjil`."""
    if not results.is_dir():
        raise UserError(f"{results}: no such results folder")
    stats_files = sorted(results.glob("*/samples/*/*.stats.json"))
    fused_files = sorted(results.glob("*/sets/*/*.fused.vidjil"))
    rows = []
    for path in stats_files:
        try:
            stats: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable stats ({exc})") from None
        vidjil = path.with_name(path.name.replace(".stats.json", ".vidjil"))
        analysis, sample = path.parts[-4], path.parts[-2]
        rows.append(
            (run, analysis, sample, str(vidjil.relative_to(results)), sha256(vidjil), stats["reads"]["total"],
             stats["reads"]["detected"], stats["clones"]["reported"], stats["germline"]["id"])
        )  # fmt: skip
    sets = [(run, p.parts[-4], p.parts[-2], str(p.relative_to(results)), sha256(p)) for p in fused_files]
    recorded = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    con = connect(db)
    with con:
        con.execute("DELETE FROM runs WHERE id = ?", (run,))
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run, recorded, info.get("status", "completed"), __version__, info.get("snakemake_version"),
             info.get("config_sha256"), info.get("samples_sha256"), info.get("profile"), socket.gethostname()),
        )  # fmt: skip
        con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.executemany("INSERT INTO fused VALUES (?, ?, ?, ?, ?)", sets)
    con.close()
    return {"results": len(rows), "fused": len(sets)}
