"""Export and import of sample sets between results folders (`vidjil export-set`,
`vidjil import-set`): a tar.gz of the set's files as the layout places them, with a
manifest (path, size, sha256 of each), checked whole before anything is written."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
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
    result of its samples (with their clone reads when present), its fused files and reports."""
    shown = show_set(db, name)
    runs = {r["run"] for r in shown["results"]} | {f["run"] for f in shown["fused"]}
    files = {layout.run_description(run) for run in runs}
    for r in shown["results"]:
        files.update(layout.sample_files(r["analysis"], r["sample"], optional=True))
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


MANIFEST = "manifest.json"
MANIFEST_MAX_BYTES = 16 << 20
CHUNK = 1 << 20


def _listed_files(archive: Path, manifest: Any) -> dict[str, dict[str, Any]]:
    """The manifest's files by archive member name, each a file a set holds where
    the layout puts it, with a size and a checksum."""
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise UserError(f"{archive}: not a sample-set archive of vidjil (manifest format)")
    listed: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("files", []):
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not layout.is_set_file(path):
            raise UserError(f"{archive}: the manifest lists {path!r}, not a file of a set where the layout puts it")
        if not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
            raise UserError(f"{archive}: the manifest gives no size or checksum for {path}")
        listed[f"files/{path}"] = entry
    return listed


def _read_manifest(archive: Path, tar: tarfile.TarFile) -> Any:
    try:
        member = tar.getmember(MANIFEST)
        if member.size > MANIFEST_MAX_BYTES:
            raise UserError(f"{archive}: manifest.json is {member.size} bytes: not a manifest")
        handle = tar.extractfile(member)
        return json.loads(handle.read()) if handle else None
    except (KeyError, json.JSONDecodeError, UnicodeDecodeError, tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{archive}: no readable manifest.json ({exc})") from None


def _copy_checked(
    archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, entry: dict[str, Any], out: Any
) -> None:
    """Stream a member into `out` (None: only check it), refusing it as soon as it
    is larger than the manifest says, and when its checksum differs."""
    handle = tar.extractfile(member) if member.isfile() else None
    if handle is None or member.size != entry["size"]:
        raise UserError(f"{archive}: {entry['path']} does not match its manifest (size): corrupt archive")
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(CHUNK):
        size += len(chunk)
        if size > entry["size"]:
            raise UserError(f"{archive}: {entry['path']} is larger than its manifest says: corrupt archive")
        digest.update(chunk)
        if out is not None:
            out.write(chunk)
    if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise UserError(f"{archive}: {entry['path']} does not match its checksum: corrupt archive")


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:gz")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise UserError(f"{archive}: not a readable archive ({exc})") from None


def _members(archive: Path, tar: tarfile.TarFile, listed: dict[str, dict[str, Any]]) -> Any:
    """The archive's members, each listed by the manifest (or the manifest), once."""
    seen: set[str] = set()
    try:
        for member in tar:
            if member.name == MANIFEST:
                continue
            if member.name not in listed or member.name in seen:
                raise UserError(f"{archive}: {member.name} is not listed by the manifest (or twice): refused")
            seen.add(member.name)
            yield member
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f"{archive}: truncated or corrupt archive ({exc})") from None
    missing = sorted(set(listed) - seen)
    if missing:
        raise UserError(f"{archive}: {listed[missing[0]]['path']} is listed but missing")


def import_set(archive: Path, results: Path, dry_run: bool = False) -> dict[str, Any]:
    """Check every file of the archive against its manifest, then write the new
    ones into `results` (files already there with the same checksum are kept, a
    different one is a conflict) and update the index. Nothing is written when
    anything is wrong, nor with `dry_run`. Members are streamed (memory stays small
    whatever their size), bounded by the sizes the manifest gives."""
    with _open(archive) as tar:
        manifest = _read_manifest(archive, tar)
        listed = _listed_files(archive, manifest)
        for member in _members(archive, tar, listed):
            _copy_checked(archive, tar, member, listed[member.name], None)
    plan: dict[str, list[str]] = {"write": [], "same": []}
    for entry in listed.values():
        target = results / entry["path"]
        if target.exists():
            if sha256(target) != entry["sha256"]:
                raise UserError(f"{target}: exists with other content: not overwritten (nothing imported)")
            plan["same"].append(entry["path"])
        else:
            plan["write"].append(entry["path"])
    if dry_run:
        return {"set": manifest["set"], "dry_run": True, **plan}
    new = {f"files/{path}" for path in plan["write"]}
    with _open(archive) as tar, atomic_outputs() as outputs:
        for member in _members(archive, tar, listed):
            if member.name in new:
                entry = listed[member.name]

                def copy(tmp: str, member: tarfile.TarInfo = member, entry: dict[str, Any] = entry) -> None:
                    with open(tmp, "wb") as out:
                        _copy_checked(archive, tar, member, entry, out)

                outputs.write_path(results / entry["path"], copy)
    counts = rebuild(results, layout.index_db(results))
    return {"set": manifest["set"], "dry_run": False, **plan, "index": counts}
