"""`vidjil doctor`: check an installation, one line per check, non-zero exit on a failure.

Checks: the engine imports and matches the Python package; the germline set (given,
else the ones the workflow built in the working folder, else the built-in one) loads
and its files match the checksums of its MANIFEST.json; Snakemake and the SLURM
executor plugin are the pinned versions (and whether `sbatch` is on PATH); the
results folder and its index are readable (schema, integrity, result files present);
free disk space where results are written."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import layout

OK, WARN, FAIL = "ok", "warn", "FAIL"
DISTRIBUTION = "vidjil-platform"


@dataclass
class Check:
    status: str
    name: str
    detail: str


def check_engine() -> Iterator[Check]:
    from . import __version__

    try:
        from .vidjil_core import __version__ as engine_version
    except ImportError as exc:
        yield Check(FAIL, "engine", f"vidjil_core does not import ({exc}): run `make setup`")
        return
    status = OK if engine_version == __version__ else FAIL
    note = "" if status == OK else f" but the package is {__version__}: run `make setup`"
    yield Check(status, "engine", f"vidjil_core {engine_version}{note}; {os.cpu_count()} cores")


def check_germline(spec: str | None, species: str) -> Iterator[Check]:
    from .errors import UserError
    from .germline import MANIFEST, germline_identity, load_germline, sha256_file

    try:
        germline = load_germline(spec, species)
    except UserError as exc:
        yield Check(FAIL, "germline", str(exc))
        return
    identity = germline_identity(germline)
    g_path = Path(germline.path)
    manifest = g_path.parent / MANIFEST
    missing = len(germline.missing_anchors())
    summary = (
        f"{g_path}: {identity['id']} ({len(identity['systems'])} systems, {identity['checksum'][:19]}..., "
        f"{missing} V/J alleles without junction anchor)"
    )
    if not manifest.exists():
        yield Check(WARN, "germline", f"{summary}: no {MANIFEST} beside {g_path}: checksums not verified")
        return
    try:
        listed: dict[str, str] = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, OSError) as exc:
        yield Check(FAIL, "germline", f"{manifest}: unreadable manifest ({exc})")
        return
    bad = []
    for rel, digest in listed.items():
        path = manifest.parent / rel
        if not path.is_file():
            bad.append(f"{rel} missing")
        elif sha256_file(path) != digest:
            bad.append(f"{rel} changed")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        yield Check(FAIL, "germline", f"{manifest.parent}: {shown} (checksums of {MANIFEST})")
    else:
        yield Check(OK, "germline", f"{summary}: {len(listed)} files match {MANIFEST}")


def _pins() -> dict[str, str]:
    """name -> version pinned by this package's requirements (`name==version`)."""
    pins = {}
    for requirement in metadata.requires(DISTRIBUTION) or []:
        found = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)", requirement)
        if found and "extra ==" not in requirement:
            pins[found.group(1).lower()] = found.group(2)
    return pins


def check_workflow_tools() -> Iterator[Check]:
    pins = _pins()
    for name in ("snakemake", "snakemake-executor-plugin-slurm"):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            yield Check(FAIL, name, "not installed: run `make setup`")
            continue
        pinned = pins.get(name)
        if pinned and installed != pinned:
            yield Check(FAIL, name, f"{installed} installed, {pinned} pinned: run `make setup`")
        else:
            yield Check(OK, name, installed)
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        yield Check(OK, "slurm", "no sbatch on PATH: profiles/local only (profiles/slurm needs a SLURM client)")
        return
    run = subprocess.run([sbatch, "--version"], capture_output=True, text=True, timeout=30)
    lines = (run.stdout + run.stderr).strip().splitlines() or [f"{sbatch} --version gave nothing"]
    if run.returncode == 0:
        yield Check(OK, "slurm", lines[0])
    else:
        yield Check(WARN, "slurm", f"{sbatch} --version failed (no cluster configuration?): {lines[-1]}")


def check_results(results: Path) -> Iterator[Check]:
    from .errors import UserError
    from .index import SCHEMA_VERSION, open_reader

    if not results.exists():
        yield Check(WARN, "results", f"{results}: no such folder yet (made by the first run)")
        return
    if not os.access(results, os.R_OK | os.W_OK | os.X_OK):
        yield Check(FAIL, "results", f"{results}: not readable and writable by this user")
        return
    db = layout.index_db(results)
    if not db.exists():
        yield Check(WARN, "index", f"{db}: no index (run `vidjil index rebuild {results}`)")
        return
    try:
        con = open_reader(db)  # the schema check every index command makes
    except UserError as exc:
        yield Check(FAIL, "index", str(exc))
        return
    try:
        integrity = con.execute("PRAGMA quick_check").fetchone()[0]
        files = con.execute("SELECT vidjil FROM results UNION ALL SELECT vidjil FROM fused").fetchall()
        germlines = con.execute("SELECT germline_id, COUNT(*) FROM results GROUP BY germline_id").fetchall()
    except sqlite3.DatabaseError as exc:
        integrity = str(exc)
    finally:
        con.close()
    if integrity != "ok":
        yield Check(FAIL, "index", f"{db}: integrity check failed ({integrity}): run `vidjil index rebuild {results}`")
        return
    missing = [f for (f,) in files if not (results / f).is_file()]
    if missing:
        yield Check(
            FAIL, "index", f"{db}: {len(missing)} of {len(files)} indexed result files missing (first: {missing[0]})"
        )
    else:
        yield Check(OK, "index", f"{db}: schema {SCHEMA_VERSION}, {len(files)} result files present")
    for germline_id, count in germlines:
        yield Check(OK, "results germline", f"{count} sample results made with {germline_id}")


def check_disk(results: Path, min_free_gb: float) -> Iterator[Check]:
    where = results
    while not where.exists() and where.parent != where:
        where = where.parent
    usage = shutil.disk_usage(where)
    free_gb = usage.free / 1e9
    status = OK if free_gb >= min_free_gb else FAIL
    yield Check(status, "disk", f"{free_gb:.1f} GB free on {where} (at least {min_free_gb:g} GB wanted)")


def germlines_to_check(germline: str | None, results: Path) -> list[str | None]:
    """The set given, else those the workflow built beside `results` (in
    resources/germline/ of the working folder), else the built-in set (None)."""
    if germline:
        return [germline]
    built = sorted(results.parent.glob(layout.built_germline("*", "*")))
    return [str(g) for g in built] or [None]


def run_checks(germline: str | None, species: str, results: Path, min_free_gb: float) -> list[Check]:
    steps: list[Callable[[], Iterator[Check]]] = [
        check_engine,
        *[lambda g=g: check_germline(g, species) for g in germlines_to_check(germline, results)],
        check_workflow_tools,
        lambda: check_results(results),
        lambda: check_disk(results, min_free_gb),
    ]
    checks: list[Check] = []
    for step in steps:
        checks.extend(step())
    return checks


def doctor(germline: str | None, species: str, results: Path, min_free_gb: float) -> int:
    checks = run_checks(germline, species, results, min_free_gb)
    for check in checks:
        print(f"{check.status:<4}  {check.name}: {check.detail}", file=sys.stdout)
    failures = sum(c.status == FAIL for c in checks)
    print(f"vidjil doctor: {len(checks)} checks, {failures} failed", file=sys.stderr)
    return 1 if failures else 0
