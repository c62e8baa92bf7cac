"""Export and import of sample sets between results folders (`vidjil export-set`,
`vidjil import-set`): a tar.gz of the sets' files as the layout places them, with a
manifest (path, size, sha256 of each, and the group of each set), checked whole
before anything is written.

An archive holds one set, several, or every set of a group. Its run descriptions
are excerpts: the exported sets and their samples only (a run's sheet names the
patients of other teams). On import, a run description already there with other
content is merged with the archive's (the union of their samples and sets, an
entry of one name being the same in both), and the imported sets are put into the
archive's groups or into `--group` (`RESULTS/.groups/<set>.group`); a set already
there in another group is a conflict, as is a different file under one name."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__, layout
from .atomic import atomic_outputs
from .cohort import rebuild as rebuild_cohort
from .errors import UserError
from .germline import sha256_file as sha256
from .groups import DEFAULT_GROUP, check_name, groups_by_set, recorded_groups
from .index import rebuild, show_set

ARCHIVE_FORMAT = "vidjil-sample-set"
ARCHIVE_VERSION = 2


@dataclass
class Export:
    """What an archive holds: files of the results folder, run description excerpts
    (path -> JSON text), and each set's group."""

    files: set[str] = field(default_factory=set)
    runs: dict[str, set[str]] = field(default_factory=dict)  # run -> the exported sets it describes
    samples: set[str] = field(default_factory=set)
    groups: dict[str, str] = field(default_factory=dict)

    def add_set(self, db: Path, name: str) -> None:
        """A set's files: every result of its samples (with their clone reads when
        present), its fused files and reports, and the runs that describe them."""
        shown = show_set(db, name)
        for run in {r["run"] for r in shown["results"]} | {f["run"] for f in shown["fused"]}:
            self.runs.setdefault(run, set()).add(name)
        for r in shown["results"]:
            self.files.update(layout.sample_files(r["analysis"], r["sample"], optional=True))
        for f in shown["fused"]:
            self.files.update(layout.set_files(f["analysis"], name))
        self.samples.update(s["name"] for s in shown["samples"])

    def excerpt(self, results: Path, run: str) -> bytes:
        """A run's description with only the exported sets and their samples."""
        path = results / layout.run_description(run)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable run description ({exc})") from None
        names = self.runs[run]
        doc["sets"] = [s for s in doc.get("sets", []) if s["name"] in names]
        doc["samples"] = [
            {**s, "sets": [n for n in s.get("sets", []) if n in names]}
            for s in doc.get("samples", [])
            if s["name"] in self.samples and names & set(s.get("sets", []))
        ]
        return json.dumps(doc, indent=1).encode()


def _groups_of(db: Path, names: list[str]) -> dict[str, str]:
    recorded = groups_by_set(db)
    return {name: recorded.get(name, DEFAULT_GROUP) for name in names}


def _contents(results: Path, plan: Export) -> dict[str, bytes | Path]:
    """Archive member (relative path) -> its bytes (run excerpts) or its file."""
    contents: dict[str, bytes | Path] = {layout.run_description(run): plan.excerpt(results, run) for run in plan.runs}
    for p in sorted(plan.files):
        if (results / p).is_file():
            contents[p] = results / p
    return dict(sorted(contents.items()))


def _entry(path: str, content: bytes | Path) -> dict[str, Any]:
    if isinstance(content, bytes):
        return {"path": path, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    return {"path": path, "size": content.stat().st_size, "sha256": sha256(content)}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def export_sets(results: Path, db: Path, names: list[str], archive: Path) -> dict[str, Any]:
    """A tar.gz of these sets' files with `manifest.json` (path, size, sha256 of
    each; the sets and their groups)."""
    if not names:
        raise UserError("export-set: no set to export (give set names or --group)")
    plan = Export(groups=_groups_of(db, names))
    for name in names:
        plan.add_set(db, name)
    contents = _contents(results, plan)
    manifest = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "set": names[0],
        "sets": names,
        "groups": plan.groups,
        "tool_version": __version__,
        "files": [_entry(p, c) for p, c in contents.items()],
    }
    tmp = archive.with_name(f".{archive.name}.tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
            for p, content in contents.items():
                if isinstance(content, bytes):
                    _add_bytes(tar, f"files/{p}", content)
                else:
                    tar.add(content, arcname=f"files/{p}", recursive=False)
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


def _is_run_description(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return len(parts) == 3 and parts[0] == layout.RUNS


def _checked_archive(archive: Path) -> tuple[Any, dict[str, dict[str, Any]], dict[str, bytes]]:
    """The manifest, its files by member name, and the run descriptions' contents,
    once every member is checked against the manifest."""
    runs: dict[str, bytes] = {}
    with _open(archive) as tar:
        manifest = _read_manifest(archive, tar)
        listed = _listed_files(archive, manifest)
        for member in _members(archive, tar, listed):
            entry = listed[member.name]
            if not _is_run_description(entry["path"]):
                _copy_checked(archive, tar, member, entry, None)
                continue
            if entry["size"] > MANIFEST_MAX_BYTES:
                raise UserError(f"{archive}: {entry['path']} is {entry['size']} bytes: not a run description")
            buffer = io.BytesIO()
            _copy_checked(archive, tar, member, entry, buffer)
            runs[entry["path"]] = buffer.getvalue()
    return manifest, listed, runs


def _manifest_groups(archive: Path, manifest: dict[str, Any], group: str | None) -> dict[str, str | None]:
    """set -> the group it goes into (`group`, else the archive's; None: an archive
    of version 1 without groups, the run description says)."""
    names = manifest.get("sets") or [manifest.get("set")]
    recorded = manifest.get("groups") or {}
    if not isinstance(names, list) or not isinstance(recorded, dict):
        raise UserError(f"{archive}: the manifest's sets or groups are not lists")
    groups: dict[str, str | None] = {}
    for name in names:
        if not isinstance(name, str) or not layout.is_valid_name(name):
            raise UserError(f"{archive}: the manifest names a set {name!r}: not a set name")
        chosen = group or recorded.get(name)
        groups[name] = None if chosen is None else check_name(str(chosen), f"{archive}: group")
    return groups


def _group_conflicts(results: Path, groups: dict[str, str | None]) -> None:
    """A set already in another group here is not moved."""
    here = recorded_groups(results) if results.is_dir() else {}
    for name, group in groups.items():
        if group is not None and name in here and here[name] != group:
            raise UserError(
                f"{results}: set '{name}' is in group '{here[name]}' here, not '{group}': not moved (nothing imported)"
            )


def _union(path: Path, mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries by name: both lists' (a sample's sets joined); one name, other content: a conflict."""
    merged = [dict(e) for e in mine]
    by_name = {e["name"]: e for e in merged}
    for entry in theirs:
        have = by_name.get(entry["name"])
        if have is None:
            merged.append(dict(entry))
            by_name[entry["name"]] = merged[-1]
            continue
        if {**have, "sets": None} != {**entry, "sets": None}:
            raise UserError(
                f"{path}: '{entry['name']}' is described otherwise here: not overwritten (nothing imported)"
            )
        if isinstance(have.get("sets"), list):
            have["sets"] = list(dict.fromkeys([*have["sets"], *entry.get("sets", [])]))
    return merged


def _merged_run(archive: Path, path: Path, incoming: bytes) -> bytes:
    """A run description already here merged with the archive's excerpt of it."""
    try:
        mine, theirs = json.loads(path.read_text()), json.loads(incoming)
        fixed = [{k: v for k, v in d.items() if k not in ("samples", "sets")} for d in (mine, theirs)]
        if fixed[0] != fixed[1]:
            raise UserError(f"{path}: another description of this run is here: not overwritten (nothing imported)")
        doc = {
            **mine,
            "samples": _union(path, mine["samples"], theirs["samples"]),
            "sets": _union(path, mine["sets"], theirs["sets"]),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path} or its copy in {archive}: not a run description ({exc})") from None
    return json.dumps(doc, indent=1).encode()


def _plan(
    archive: Path, results: Path, listed: dict[str, dict[str, Any]], runs: dict[str, bytes]
) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """Which files are new, which are here already, which run descriptions are merged (and into what)."""
    plan: dict[str, list[str]] = {"write": [], "same": [], "merge": []}
    merged: dict[str, bytes] = {}
    for entry in listed.values():
        target = results / entry["path"]
        if not target.exists():
            plan["write"].append(entry["path"])
        elif sha256(target) == entry["sha256"]:
            plan["same"].append(entry["path"])
        elif entry["path"] in runs:
            merged[entry["path"]] = _merged_run(archive, target, runs[entry["path"]])
            plan["merge"].append(entry["path"])
        else:
            raise UserError(f"{target}: exists with other content: not overwritten (nothing imported)")
    return plan, merged


def _assignments(results: Path, groups: dict[str, str | None]) -> dict[str, bytes]:
    """The group files to write (a set's group, where it differs from what is here)."""
    wanted = {}
    for name, group in groups.items():
        path = results / layout.group_assignment(name)
        if group is not None and (not path.exists() or path.read_text().strip() != group):
            wanted[layout.group_assignment(name)] = f"{group}\n".encode()
    return wanted


def _write_bytes(data: bytes, tmp: str) -> None:
    Path(tmp).write_bytes(data)


def import_set(archive: Path, results: Path, dry_run: bool = False, group: str | None = None) -> dict[str, Any]:
    """Check every file of the archive against its manifest, then write the new
    ones into `results` (files already there with the same checksum are kept, run
    descriptions merged, any other difference is a conflict), put the sets into
    their group (`group`, else the archive's) and update the index (and the cohort
    dataset when the folder has one). Nothing is
    written when anything is wrong, nor with `dry_run`. Members are streamed
    (memory stays small whatever their size), bounded by the sizes the manifest gives."""
    if group is not None:
        check_name(group, "--group")
    manifest, listed, runs = _checked_archive(archive)
    groups = _manifest_groups(archive, manifest, group)
    _group_conflicts(results, groups)
    plan, merged = _plan(archive, results, listed, runs)
    small = merged | _assignments(results, groups)
    summary = {"sets": list(groups), "groups": groups, **plan}
    if dry_run:
        return {**summary, "dry_run": True}
    new = {f"files/{path}" for path in plan["write"]}
    with _open(archive) as tar, atomic_outputs() as outputs:
        for member in _members(archive, tar, listed):
            if member.name in new:
                entry = listed[member.name]

                def copy(tmp: str, member: tarfile.TarInfo = member, entry: dict[str, Any] = entry) -> None:
                    with open(tmp, "wb") as out:
                        _copy_checked(archive, tar, member, entry, out)

                outputs.write_path(results / entry["path"], copy)
        for path, data in small.items():
            outputs.write_path(results / path, partial(_write_bytes, data))
    counts = rebuild(results, layout.index_db(results))
    # A results folder with a cohort dataset keeps it up to date (changed partitions only).
    cohort = rebuild_cohort(results) if (results / layout.COHORT).is_dir() else None
    return {**summary, "dry_run": False, "index": counts, "cohort": cohort}
