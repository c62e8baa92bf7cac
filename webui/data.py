"""Read-only access to a results folder and its index for the viewer: index
queries, result files resolved safely under the results root, parsed documents
cached by path and modification time, and the shaping of clones into tables and
plot data. No Flask here."""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidjil import layout
from vidjil.vidjil_format import junction_nt, read_vidjil


class NotFound(Exception):
    """An item the index does not list."""


class Unavailable(Exception):
    """A listed result file that is missing or unreadable: an error for that item."""


@dataclass
class Results:
    root: Path

    @property
    def db(self) -> Path:
        return layout.index_db(self.root)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if not self.db.exists():
            raise Unavailable(f"no index in {self.root}: run `vidjil index rebuild {self.root}`")
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql, args)]
        except sqlite3.DatabaseError as exc:
            raise Unavailable(f"the index cannot be read ({exc})") from None
        finally:
            con.close()

    def one(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
        rows = self.query(sql, args)
        if not rows:
            raise NotFound()
        return rows[0]

    def resolve(self, relative: str) -> Path:
        """A path the index lists, inside the results root (no absolute path, no
        '..', no symbolic link leading out)."""
        candidate = Path(relative)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise NotFound()
        root = self.root.resolve()
        path = (root / candidate).resolve()
        if root not in path.parents:
            raise NotFound()
        return path


class DocumentCache:
    """Parsed `.vidjil` documents, the most recent few, keyed by path and mtime."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.docs: OrderedDict[tuple[str, float], dict[str, Any]] = OrderedDict()

    def get(self, path: Path) -> dict[str, Any]:
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            raise Unavailable(f"{path.name} is missing") from None
        if key in self.docs:
            self.docs.move_to_end(key)
            return self.docs[key]
        try:
            doc = read_vidjil(path)
        except Exception as exc:  # any unreadable file is an error page for this item only
            raise Unavailable(f"{path.name} cannot be read: {exc}") from None
        self.docs[key] = doc
        while len(self.docs) > self.size:
            self.docs.popitem(last=False)
        return doc


def clone_row(clone: dict[str, Any], segmented: int) -> dict[str, Any]:
    seg = clone.get("seg", {})
    junction = seg.get("junction", {})
    reads = clone["reads"][0] if isinstance(clone["reads"], list) else clone["reads"]
    return {
        "rank": clone["top"],
        "name": clone.get("name", ""),
        "window": clone["id"],
        "system": clone.get("germline", ""),
        "junction_aa": junction.get("aa", ""),
        "productive": None if not junction else bool(junction.get("productive")),
        "reads": reads,
        "fraction": reads / segmented if segmented else 0.0,
        "warnings": " ".join(w.get("code", "") for w in clone.get("warn", [])),
    }


SORTS = {"rank", "reads", "name", "system", "junction_aa"}


def clone_page(
    doc: dict[str, Any], page: int, per_page: int, sort: str, descending: bool, text: str
) -> tuple[list[dict[str, Any]], int]:
    """One page of a sample's clones, filtered by `text` (in name, system, window
    or junction) and sorted, and the number of clones that match."""
    segmented = doc["reads"]["segmented"][0]
    rows = [clone_row(c, segmented) for c in doc["clones"]]
    if text:
        needle = text.upper()
        rows = [
            r for r in rows if any(needle in str(r[k]).upper() for k in ("name", "system", "window", "junction_aa"))
        ]
    key = sort if sort in SORTS else "rank"
    rows.sort(key=lambda r: (r[key] is None, r[key]), reverse=descending)
    start = max(0, (page - 1) * per_page)
    return rows[start : start + per_page], len(rows)


def spectratype(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per locus, reads by CDR3 length in amino acids (designated clones)."""
    out: dict[str, dict[str, int]] = {}
    for clone in doc["clones"]:
        cdr3 = clone.get("seg", {}).get("cdr3")
        if cdr3 and cdr3.get("aa"):
            length = str(len(cdr3["aa"]))
            counts = out.setdefault(str(clone.get("germline", "")), {})
            counts[length] = counts.get(length, 0) + clone["reads"][0]
    return out


def colored_segments(clone: dict[str, Any]) -> list[dict[str, str]]:
    """The representative sequence cut into V, N, D, J pieces (and what is outside),
    each marked when it lies in the CDR3."""
    seq = str(clone.get("sequence", ""))
    seg = clone.get("seg", {})
    marks = ["out"] * len(seq)
    for key, part in (("5", "V"), ("4", "D"), ("4b", "D"), ("3", "J")):
        box = seg.get(key)
        if box and "start" in box and "stop" in box:
            for i in range(box["start"] - 1, min(box["stop"], len(seq))):
                marks[i] = part
    boxes = [seg[k] for k in ("5", "4", "4b", "3") if k in seg and "stop" in seg[k] and "start" in seg[k]]
    for left, right in zip(boxes, boxes[1:], strict=False):
        for i in range(left["stop"], right["start"] - 1):
            marks[i] = "N"
    cdr3 = seg.get("cdr3", {})
    in_cdr3 = [cdr3.get("start", 0) - 1 <= i < cdr3.get("stop", 0) for i in range(len(seq))]
    pieces: list[dict[str, str]] = []
    for i, base in enumerate(seq):
        kind = marks[i] + (" cdr3" if in_cdr3[i] else "")
        if pieces and pieces[-1]["kind"] == kind:
            pieces[-1]["text"] += base
        else:
            pieces.append({"kind": kind, "text": base})
    return pieces


def airr_row(path: Path, rank: int) -> dict[str, str] | None:
    """The AIRR row of a clone (its germline alignment), if the file is there."""
    import csv

    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                if row.get("clone_id") == str(rank):
                    return row
    except OSError:
        return None
    return None


def clone_in_fused(fused: dict[str, Any], clone: dict[str, Any]) -> dict[str, Any] | None:
    """The followed clone of a fused set that is this clone (window or junction)."""
    junction = junction_nt(clone)
    for candidate in fused["clones"]:
        if candidate["id"] == clone["id"] or (junction and junction_nt(candidate) == junction):
            found: dict[str, Any] = candidate
            return found
    return None


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block."""
    return json.dumps(value).replace("</", "<\\/")
