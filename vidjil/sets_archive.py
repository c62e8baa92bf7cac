"""Export and import of sample sets between results folders (`vidjil export-set`,
`vidjil import-set`): a tar.gz of the set's files as the layout places them, with a
manifest (path, size, sha256 of each), checked whole before anything is written."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__, layout
from .atomic import atomic_outputs
from .errors import UserError
from .germline import sha256_file as sha256
from .index import rebuild, show_set

ARCHIVE_FORMAT = "vidjil-sample-set"
ARCHIVE_VERSION = 1


def _set_files(results: Path, db: Path, name: str) -> list[Path]:
    """Files of a set, relative to the results folder: the run descriptions, every
    result of its samples, its fused files and reports."""
    shown = show_set(db, name)
    runs = {r["run"] for r in shown["results"]} | {f["run"] for f in shown["fused"]}
    files = {layout.run_description(run) for run in runs}
    for r in shown["results"]:
        files.update(layout.sample_files(r["analysis"], r["sample"]))
    for f in shown["fused"]:
        files.update(layout.set_files(f["analysis"], name))
    return sorted(Path(p) for p in files if (results / p).is_file())


def export_set(results: Path, db: Path, name: str, archive: Path) -> dict[str, Any]:
    """A tar.gz of the set's files with `manifest.json` (path, size, sha256 of each)."""
    files = _set_files(results, db, name)
    manifest = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "set": name,
        "tool_version": __version__,
        "files": [{"path": str(p), "size": (results / p).stat().st_size, "sha256": sha256(results / p)} for p in files],
    }
    tmp = archive.with_name(f".{archive.name}.tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for p in files:
                tar.add(results / p, arcname=f"files/{p}", recursive=False)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{archive}: cannot write: {exc.strerror or exc}") from None
    tmp.replace(archive)
    return manifest


def _safe_relative(path: str) -> Path:
    p = Path(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(path)
    return p


def import_set(archive: Path, results: Path, dry_run: bool = False) -> dict[str, Any]:
    """Check every file of the archive against its manifest, then write the new
    ones into `results` (files already there with the same checksum are kept, a
    different one is a conflict) and update the index. Nothing is written when
    anything is wrong, nor with `dry_run`."""
    try:
        tar = tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise UserError(f"{archive}: not a readable archive ({exc})") from None
    with tar:
        try:
            member = tar.extractfile("manifest.json")
            manifest = json.loads(member.read()) if member else None
        except (KeyError, json.JSONDecodeError, tarfile.TarError, OSError) as exc:
            raise UserError(f"{archive}: no readable manifest.json ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
            raise UserError(f"{archive}: not a sample-set archive of vidjil (manifest format)")
        contents: dict[Path, bytes] = {}
        for entry in manifest["files"]:
            try:
                rel = _safe_relative(entry["path"])
                data_member = tar.extractfile(f"files/{rel}")
                data = data_member.read() if data_member else None
            except ValueError:
                raise UserError(f"{archive}: unsafe path in the manifest: {entry['path']}") from None
            except (KeyError, tarfile.TarError, OSError):
                raise UserError(f"{archive}: {entry['path']} is listed but missing") from None
            if data is None or hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["size"]:
                raise UserError(f"{archive}: {entry['path']} does not match its checksum: corrupt archive")
            contents[rel] = data
    plan: dict[str, list[str]] = {"write": [], "same": []}
    for rel, data in contents.items():
        target = results / rel
        if target.exists():
            if sha256(target) != hashlib.sha256(data).hexdigest():
                raise UserError(f"{target}: exists with other content: not overwritten (nothing imported)")
            plan["same"].append(str(rel))
        else:
            plan["write"].append(str(rel))
    if dry_run:
        return {"set": manifest["set"], "dry_run": True, **plan}

    def writer(data: bytes) -> Callable[[str], int]:
        return lambda tmp: Path(tmp).write_bytes(data)

    with atomic_outputs() as outputs:
        for name in plan["write"]:
            outputs.write_path(results / name, writer(contents[Path(name)]))
    counts = rebuild(results, layout.index_db(results))
    return {"set": manifest["set"], "dry_run": False, **plan, "index": counts}
