"""Read-only access for the viewer to a results folder and its index, or to
`.vidjil` files given one by one: index queries, result files resolved safely
under the results root, the given files checked once at startup, parsed documents
cached by path and modification time (and made regular: the reference tool's
older files), and the shaping of clones and sets into tables and plot data shared
by both. No Flask here."""

from __future__ import annotations

import csv
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidjil import layout
from vidjil.airr_format import fused_rows, segment_name
from vidjil.alerts import alert_rows
from vidjil.contamination import read_table as read_contamination_table
from vidjil.errors import UserError
from vidjil.index import connect_read_only
from vidjil.markers import at_diagnosis_column, marker_rows
from vidjil.mrd import (
    LOD_CELLS,
    LOD_READS,
    LOQ_CELLS,
    LOQ_READS,
    MARKER_FRACTION,
    MarkerMRD,
    count_unit,
    format_percent,
    marker_clones,
    marker_values,
    mrd_summary,
    per_sample,
    sample_dates,
    sample_names,
    significant,
    status_text,
    table_rows,
)
from vidjil.plots import clone_curves, script_json, vj_usage
from vidjil.vidjil_format import junction_nt, number_clones, read_vidjil, undetected_in_words


class NotFound(Exception):
    """An item the index does not list."""


class Unavailable(Exception):
    """A listed result file that is missing or unreadable: an error for that item."""


@dataclass
class Results:
    root: Path
    hide_info: bool = False  # an anonymous token's: the index's info fields left out

    @property
    def db(self) -> Path:
        return layout.index_db(self.root)

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if not self.db.exists():
            raise Unavailable(f"no index in {self.root}: run `vidjil index rebuild {self.root}`")
        try:
            con = connect_read_only(self.db, timeout=10)
        except sqlite3.DatabaseError as exc:
            raise Unavailable(f"the index cannot be read ({exc})") from None
        con.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in con.execute(sql, args)]
        except OverflowError:  # an id past SQLite's 64-bit integers: no such item
            raise NotFound() from None
        except sqlite3.DatabaseError as exc:
            raise Unavailable(f"the index cannot be read ({exc})") from None
        finally:
            con.close()
        if self.hide_info:
            for row in rows:
                if "info" in row:
                    row["info"] = None
        return rows

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
            doc = viewable(read_vidjil(path))
        except Exception as exc:  # any unreadable file is an error page for this item only
            raise Unavailable(f"{path.name} cannot be read: {exc}") from None
        self.docs[key] = doc
        while len(self.docs) > self.size:
            self.docs.popitem(last=False)
        return doc


# Documents as the pages read them.

# The reference tool's older seg boxes: a bare gene name, 0-based positions beside it.
OLD_BOXES = {"5": ("5start", "5end"), "4": ("4start", "4end"), "3": ("3start", "3end")}


def _warnings(value: Any) -> list[dict[str, Any]]:
    """The warnings of a list that may hold other things (the reference tool writes 0s)."""
    return [w for w in value if isinstance(w, dict)] if isinstance(value, list) else []


def _old_boxes(seg: dict[str, Any], length: int) -> dict[str, Any]:
    """Bare gene names as {name, start, stop} boxes (1-based, closed), positions from
    `5start`/`5end`, `4start`/`4end`, `3start`(/`3end`, else the sequence's end)."""
    seg = dict(seg)
    for key, (start_key, end_key) in OLD_BOXES.items():
        if not isinstance(seg.get(key), str):
            continue
        box: dict[str, Any] = {"name": seg[key]}
        start = seg.get(start_key, 0 if key == "5" else None)
        stop = seg.get(end_key, length - 1 if key == "3" and length else None)
        if isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop:
            box |= {"start": start + 1, "stop": stop + 1}
        seg[key] = box
    return seg


def _open_ends(seg: dict[str, Any], length: int) -> None:
    """The reference tool's V box has only its `stop` (it starts the sequence), its J
    box only its `start` (it ends it): both ends given, so that the pages colour them."""
    v, j = seg.get("5"), seg.get("3")
    if isinstance(v, dict) and "start" not in v and isinstance(v.get("stop"), int):
        seg["5"] = {**v, "start": 1}
    if isinstance(j, dict) and "stop" not in j and isinstance(j.get("start"), int) and length >= j["start"]:
        seg["3"] = {**j, "stop": length}


def viewable(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (as `read_vidjil` returns it, checked) made regular in place for the
    pages: read counts as one value per sample, warning lists holding warnings
    only, seg boxes as {name, start, stop} (the old bare names; V and J boxes with
    one end, the sequence's own), and a `top` that names one clone
    (the pages, links and selections use it): the reference tool's fused files give
    each clone its best rank in any sample, shared by several clones; there, and
    when some clone has none, clones are numbered in the file's order."""
    reads = doc["reads"]
    n = max(1, len(reads["segmented"]) if isinstance(reads["segmented"], list) else 1)
    for key in ("total", "segmented"):
        reads[key] = per_sample(reads[key], n, 0)
    if isinstance(reads.get("germline"), dict):
        reads["germline"] = {system: per_sample(v, n, 0) for system, v in reads["germline"].items()}
    if "warn" in doc:
        doc["warn"] = _warnings(doc["warn"])
    for clone in doc["clones"]:
        if not isinstance(clone["reads"], list) or len(clone["reads"]) != n:
            clone["reads"] = per_sample(clone["reads"], n, 0)
        if "warn" in clone:
            clone["warn"] = _warnings(clone["warn"])
        seg = clone.get("seg")
        if seg:
            sequence = clone.get("sequence")
            length = len(sequence) if isinstance(sequence, str) else 0
            if any(isinstance(seg.get(key), str) for key in OLD_BOXES):
                seg = clone["seg"] = _old_boxes(seg, length)
            _open_ends(seg, length)
    number_clones(doc)
    return doc


@dataclass(frozen=True)
class VidjilFile:
    """A `.vidjil` file given to the viewer, summarised when it was checked."""

    number: int
    path: Path
    names: list[str]
    total: int
    detected: int
    clones: int
    producer: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def samples(self) -> int:
        return len(self.names)

    @property
    def sample(self) -> str:
        """The first sample's name without its folders (the reference tool records paths)."""
        return self.names[0].replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or self.name

    @property
    def is_set(self) -> bool:
        """Several samples (a fused file): shown as a set."""
        return self.samples > 1


def check_file(number: int, path: Path) -> VidjilFile:
    """`path` read and checked as a `.vidjil` document (a UserError naming it otherwise)."""
    doc = viewable(read_vidjil(path))
    producer = doc.get("producer") or per_sample(doc.get("samples", {}).get("producer"), 1, "")[0]
    return VidjilFile(
        number=number,
        path=path.resolve(),
        names=sample_names(doc),
        total=sum(doc["reads"]["total"]),
        detected=sum(doc["reads"]["segmented"]),
        clones=len(doc["clones"]),
        producer=str(producer or ""),
    )


@dataclass
class Files:
    """The `.vidjil` files the viewer serves instead of a results folder, numbered
    from 1 in the order given (the same file given twice is served once)."""

    items: list[VidjilFile]

    @classmethod
    def check(cls, paths: Iterable[Path | str]) -> Files:
        unique = list(dict.fromkeys(Path(p).resolve() for p in paths))
        return cls([check_file(number, path) for number, path in enumerate(unique, start=1)])

    def get(self, number: int) -> VidjilFile:
        if not 1 <= number <= len(self.items):
            raise NotFound()
        return self.items[number - 1]


def clone_by_top(doc: dict[str, Any], top: int) -> dict[str, Any]:
    """The clone ranked `top` (the reference tool's files list clones in any order)."""
    for clone in doc["clones"]:
        if clone["top"] == top:
            found: dict[str, Any] = clone
            return found
    raise NotFound()


def max_top(doc: dict[str, Any]) -> int:
    return max((int(c["top"]) for c in doc["clones"]), default=0)


def _junction_nt(clone: dict[str, Any]) -> str:
    """The junction (nt), '' when the document does not place it."""
    try:
        return junction_nt(clone)
    except (KeyError, TypeError):
        return ""


def _gene(seg: dict[str, Any], key: str) -> str:
    return segment_name(seg, key).split("*")[0]


def clone_row(clone: dict[str, Any], segmented: int) -> dict[str, Any]:
    seg = clone.get("seg") or {}
    junction = seg.get("junction") or {}
    reads = clone["reads"][0] if isinstance(clone["reads"], list) else clone["reads"]
    return {
        "rank": clone["top"],
        "name": clone.get("name", ""),
        "window": clone["id"],
        "system": clone.get("germline", ""),
        "v": _gene(seg, "5"),
        "j": _gene(seg, "3"),
        "junction_aa": junction.get("aa", ""),
        "junction": _junction_nt(clone) if junction else "",
        "productive": None if not junction else bool(junction.get("productive")),
        "reads": reads,
        "fraction": reads / segmented if segmented else 0.0,
        "warnings": " ".join(w.get("code", "") for w in clone.get("warn") or [] if isinstance(w, dict)),
    }


SORTS = {"rank", "reads", "fraction", "name", "system", "junction_aa"}


@dataclass
class ClonePage:
    rows: list[dict[str, Any]]
    matching: int
    page: int
    pages: int


def clone_page(
    doc: dict[str, Any],
    page: int,
    per_page: int,
    sort: str,
    descending: bool,
    text: str,
    vj: tuple[str, str] | None = None,
) -> ClonePage:
    """One page of a sample's clones, filtered by `text` (in name, system, window
    or junction) and by V and J genes, sorted; a page past the end is the last."""
    segmented = doc["reads"]["segmented"][0]
    rows = [clone_row(c, segmented) for c in doc["clones"]]
    if text:
        needle = text.upper()
        rows = [
            r for r in rows if any(needle in str(r[k]).upper() for k in ("name", "system", "window", "junction_aa"))
        ]
    if vj:
        rows = [r for r in rows if (r["v"], r["j"]) == vj]
    key = sort if sort in SORTS else "rank"
    rows.sort(key=lambda r: (r[key] is None, r[key]), reverse=descending)
    page, pages = clamp_page(page, len(rows), per_page)
    start = (page - 1) * per_page
    return ClonePage(rows[start : start + per_page], len(rows), page, pages)


def spectratype(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per locus, reads by CDR3 length in amino acids (designated clones)."""
    out: dict[str, dict[str, int]] = {}
    for clone in doc["clones"]:
        cdr3 = (clone.get("seg") or {}).get("cdr3")
        if isinstance(cdr3, dict) and isinstance(cdr3.get("aa"), str) and cdr3["aa"]:
            length = str(len(cdr3["aa"]))
            counts = out.setdefault(str(clone.get("germline", "")), {})
            counts[length] = counts.get(length, 0) + clone["reads"][0]
    return out


def _cdr3_range(seg: dict[str, Any]) -> tuple[int, int]:
    """The CDR3's (first, last) positions (1-based), (0, -1) when not placed."""
    cdr3 = seg.get("cdr3")
    if isinstance(cdr3, dict) and isinstance(cdr3.get("start"), int) and isinstance(cdr3.get("stop"), int):
        return cdr3["start"], cdr3["stop"]
    return 0, -1


def colored_segments(clone: dict[str, Any]) -> list[dict[str, str]]:
    """The representative sequence cut into V, N, D, J pieces (and what is outside),
    each marked when it lies in the CDR3."""
    seq = str(clone.get("sequence", ""))
    seg = clone.get("seg") or {}
    marks = ["out"] * len(seq)
    for key, part in (("5", "V"), ("4", "D"), ("4b", "D"), ("3", "J")):
        box = seg.get(key)
        if box and "start" in box and "stop" in box:
            for i in range(max(0, box["start"] - 1), min(box["stop"], len(seq))):
                marks[i] = part
    boxes = [seg[k] for k in ("5", "4", "4b", "3") if k in seg and "stop" in seg[k] and "start" in seg[k]]
    for left, right in zip(boxes, boxes[1:], strict=False):
        for i in range(max(0, left["stop"]), min(right["start"] - 1, len(seq))):
            marks[i] = "N"
    first, last = _cdr3_range(seg)
    in_cdr3 = [first - 1 <= i < last for i in range(len(seq))]
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
    junction = _junction_nt(clone)
    for candidate in fused["clones"]:
        if candidate["id"] == clone["id"] or (junction and _junction_nt(candidate) == junction):
            found: dict[str, Any] = candidate
            return found
    return None


def undetected_reasons(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The undetected reads of a sample by reason (in words), largest first."""
    total = doc["reads"]["total"][0] or 1
    reasons = [
        {"key": key, "words": undetected_in_words(key), "reads": v[0], "fraction": v[0] / total}
        for key, v in doc["reads"].get("_undetected", {}).items()
        if v[0]
    ]
    return sorted(reasons, key=lambda r: -r["reads"])


def sample_funnel(doc: dict[str, Any]) -> dict[str, Any]:
    """A sample's reads: total, detected, per system, undetected by reason."""
    reads = doc["reads"]
    total, detected = reads["total"][0], reads["segmented"][0]
    return {
        "total": total,
        "detected": detected,
        "detected_percent": format_percent(detected / total) if total else "",
        "systems": {k: v[0] for k, v in reads.get("germline", {}).items() if v[0]},
        "undetected": undetected_reasons(doc),
    }


def sample_plot(doc: dict[str, Any]) -> str:
    """The plot data of a sample page (V x J usage, CDR3 lengths) as script JSON."""
    return script_json({"vj": vj_usage(doc), "spectratype": spectratype(doc)})


def clamp_page(page: int, matching: int, per_page: int) -> tuple[int, int]:
    """The page number within 1..pages, and the number of pages."""
    pages = max(1, -(-matching // per_page))
    return min(max(1, page), pages), pages


def followed_by_junction(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Index `followed` rows (set, rank, junction) by junction: the sets following each junction."""
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["junction"]:
            found.setdefault(row["junction"], []).append({"set": row["sample_set"], "rank": row["rank"]})
    return found


# Germline alignment as paired lines.

BLOCK = 60
CODONS = dict(
    zip(
        (a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
        strict=True,
    )
)


def translate(codon: str) -> str:
    return CODONS.get(codon.upper(), "X")


def _spans(clone: dict[str, Any], alignment: dict[str, str]) -> list[tuple[str, int, int]]:
    """(label, first, last) positions (1-based, in the read) of V, N1, D, N2, J."""
    seg = clone.get("seg") or {}
    boxes = [
        (label, seg[key]["start"], seg[key]["stop"])
        for key, label in (("5", "V"), ("4", "D"), ("3", "J"))
        if key in seg and "start" in seg[key] and "stop" in seg[key]
    ]
    if not boxes:
        boxes = [
            (label, int(alignment[f"{p}_sequence_start"]), int(alignment[f"{p}_sequence_end"]))
            for p, label in (("v", "V"), ("d", "D"), ("j", "J"))
            if alignment.get(f"{p}_sequence_start") and alignment.get(f"{p}_sequence_end")
        ]
    spans: list[tuple[str, int, int]] = []
    inserts = 0
    for box in boxes:
        if spans and box[1] > spans[-1][2] + 1:
            inserts += 1
            spans.append((f"N{inserts}", spans[-1][2] + 1, box[1] - 1))
        spans.append(box)
    return spans


def _label_line(labels: list[str]) -> str:
    """One character per column: a span's name at its start (or the block's), then '-'."""
    out = []
    k = 0
    while k < len(labels):
        name = labels[k]
        end = k
        while end < len(labels) and labels[end] == name:
            end += 1
        width = end - k
        fill = "=" if name == "CDR3" else "-"
        text = "" if not name else name + fill * (width - len(name)) if width >= len(name) else fill * width
        out.append(text.ljust(width))
        k = end
    return "".join(out)


def alignment_blocks(clone: dict[str, Any], alignment: dict[str, str], view: str = "nt") -> list[dict[str, Any]]:
    """The read over its germline in blocks of 60 columns (nucleotides or amino
    acids in the CDR3's frame): positions, a mismatch line ('*' under a
    difference), the segment of each column (V, N1, D, N2, J) and the CDR3."""
    read, germline = alignment.get("sequence_alignment", ""), alignment.get("germline_alignment", "")
    if not read or len(read) != len(germline):
        return []
    start = int(alignment.get("v_sequence_start") or 1)
    positions, pos = [], start - 1
    for base in read:
        if base not in ".-":
            pos += 1
        positions.append(pos)
    spans = _spans(clone, alignment)
    cdr3_range = _cdr3_range(clone.get("seg") or {})

    def segment(position: int) -> str:
        return next((label for label, first, last in spans if first <= position <= last), "")

    columns = list(zip(read, germline, positions, strict=True))
    if view == "aa":
        frame = (cdr3_range[0] - start) % 3 if cdr3_range[0] else 0
        columns = [
            (translate(read[k : k + 3]), translate(germline[k : k + 3]), positions[k])
            for k in range(frame, len(read) - 2, 3)
        ]
    blocks = []
    for first in range(0, len(columns), BLOCK):
        chunk = columns[first : first + BLOCK]
        labels = [segment(p) for _, _, p in chunk]
        in_cdr3 = [cdr3_range[0] <= p <= cdr3_range[1] for _, _, p in chunk]
        cells: list[dict[str, str]] = []
        for (r, _g, _), label, cdr in zip(chunk, labels, in_cdr3, strict=True):
            kind = (label[:1] or "out") + (" cdr3" if cdr else "")
            if cells and cells[-1]["kind"] == kind:
                cells[-1]["text"] += r
            else:
                cells.append({"kind": kind, "text": r})

        def number(position: int) -> int:
            return (position - start) // 3 + 1 if view == "aa" else position

        blocks.append(
            {
                "start": number(chunk[0][2]),
                "end": number(chunk[-1][2]),
                "read": cells,
                "germline": "".join("." if g == r else g for r, g, _ in chunk),
                "mismatch": "".join(" " if g == r or g in "NX" else "*" for r, g, _ in chunk),
                "segments": _label_line(labels),
                "cdr3": _label_line(["CDR3" if c else "" for c in in_cdr3]),
            }
        )
    return blocks


# Selections: FASTA, AIRR and CSV of chosen clones, and their comparison.

MAX_SELECTION = 1000


class BadSelection(Exception):
    """A selection that cannot be served (400)."""


def parse_ranks(text: str, count: int) -> list[int]:
    """'1,3,7' -> [1, 3, 7]: ranks within 1..count, at most MAX_SELECTION, no repeat."""
    if not text:
        raise BadSelection("no clone selected")
    try:
        ranks = [int(part) for part in text.split(",")]
    except ValueError:
        raise BadSelection("ranks are numbers separated by commas") from None
    if len(ranks) > MAX_SELECTION:
        raise BadSelection(f"at most {MAX_SELECTION} clones at once")
    if any(not 1 <= rank <= count for rank in ranks):
        raise BadSelection(f"ranks go from 1 to {count}")
    return list(dict.fromkeys(ranks))


def selected(doc: dict[str, Any], ranks: list[int]) -> list[dict[str, Any]]:
    by_top = {int(c["top"]): c for c in doc["clones"]}
    return [by_top[r] for r in ranks if r in by_top]


def fasta(clones: list[dict[str, Any]], names: list[str]) -> str:
    """Representatives, '>sample|rank|designation|reads' (reads per sample for a set)."""
    lines = []
    for clone in clones:
        reads = ",".join(str(r) for r in clone["reads"])
        header = "|".join(
            [",".join(names), f"rank {clone['top']}", str(clone.get("name", clone["id"])), f"{reads} reads"]
        )
        sequence = str(clone.get("sequence") or clone["id"])
        lines.append(f">{header}")
        lines += [sequence[k : k + 60] for k in range(0, len(sequence), 60)]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["sample", "rank", "designation", "system", "junction", "junction_aa", "reads", "percent"]


def csv_rows(clones: list[dict[str, Any]], names: list[str], segmented: list[int]) -> list[dict[str, Any]]:
    rows = []
    for clone in clones:
        for name, reads, total in zip(names, clone["reads"], segmented, strict=False):
            rows.append(
                {
                    "sample": name,
                    "rank": clone["top"],
                    "designation": clone.get("name", ""),
                    "system": clone.get("germline", ""),
                    "junction": _junction_nt(clone),
                    "junction_aa": ((clone.get("seg") or {}).get("junction") or {}).get("aa", ""),
                    "reads": reads,
                    "percent": significant(100 * reads / total, 4) if total else "",
                }
            )
    return rows


def compare(clones: list[dict[str, Any]]) -> dict[str, Any]:
    """The sequences aligned on their junction start (else their window), padded,
    with a line marking the columns where they differ."""
    anchors = []
    for clone in clones:
        seq = str(clone.get("sequence", ""))
        junction = (clone.get("seg") or {}).get("junction") or {}
        anchor = int(junction["start"]) - 1 if "start" in junction else max(0, seq.find(clone["id"]))
        anchors.append((seq, anchor))
    left = max((a for _, a in anchors), default=0)
    lines = [" " * (left - a) + s for s, a in anchors]
    width = max((len(line) for line in lines), default=0)
    lines = [line.ljust(width) for line in lines]
    diff = "".join(" " if len({line[k] for line in lines if line[k] != " "}) <= 1 else "*" for k in range(width))
    return {
        "rows": [
            {"rank": c["top"], "name": c.get("name", c["id"]), "line": line}
            for c, line in zip(clones, lines, strict=True)
        ],
        "diff": diff,
        "differences": diff.count("*"),
    }


def marker_label(clone: dict[str, Any]) -> str:
    """A short name for a table header: V and J genes (else the designation)."""
    seg = clone.get("seg") or {}
    genes = [str(seg[k]["name"]).split("*")[0] for k in ("5", "3") if k in seg and "name" in seg[k]]
    return " ".join(genes) if genes else str(clone.get("name") or clone["id"])[:40]


def junction_of(clone: dict[str, Any]) -> str:
    """The junction (nt) of a designated clone, else ''."""
    return _junction_nt(clone) if (clone.get("seg") or {}).get("junction") else ""


def _followed_text(m: MarkerMRD) -> str:
    if m["reads"]:
        return format_percent(m["fraction"])
    return f"< {format_percent(m['lod'])}" if m["locus_reads"] else f"no {m['locus']} reads"


def followed_cells(fused: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Per followed clone, per sample: reads and % of the locus, or '< LoD'."""
    table = []
    for clone in fused["clones"]:
        table.append([{"reads": m["reads"], "text": _followed_text(m)} for m in marker_values(fused, clone)])
    return table


# A fused set's page (from the index or from a file).

MarkerLink = Callable[[str, MarkerMRD], str]


def mrd_rows(fused: dict[str, Any], markers: list[dict[str, Any]], link: MarkerLink) -> list[dict[str, Any]]:
    """The MRD summary as table rows (each replicate group's libraries, then its
    pooled row); `link(sample, marker)` is where a cell leads."""
    rows = []
    for entry in table_rows(mrd_summary(fused, markers)):
        cells = []
        for marker in entry["markers"]:
            spike = marker["spike_copies"]
            lod, loq = format_percent(marker["lod"]), format_percent(marker["loq"])
            cells.append(
                {
                    "reads": marker["reads"],
                    "percent": format_percent(marker["fraction"]) if marker["reads"] else f"< {lod}",
                    "limits": f"{lod} / {loq}" if marker["locus_reads"] else "",
                    "status": status_text(marker),
                    "status_class": marker["status"],
                    "negative": marker["status"] == "negative",
                    "spike": None if spike is None else significant(spike),
                    "link": link(entry["sample"], marker),
                }
            )
        cells_analysed = entry["markers"][0]["cell_equivalents"] if entry["markers"] else None
        rows.append(
            {**entry, "cells": cells, "cell_equivalents": f"{round(cells_analysed):,}" if cells_analysed else ""}
        )
    return rows


def alert_list(fused: dict[str, Any]) -> list[dict[str, Any]]:
    """The follow-up alerts `vidjil fuse` recorded (`_mrd.alerts`)."""
    return alert_rows(fused)[1]


def marker_flags(fused: dict[str, Any]) -> list[dict[str, Any]]:
    """The marker candidates and their flags (`_mrd.markers`), as the set page lists them."""
    rows = marker_rows(fused)[1]
    counted = at_diagnosis_column(count_unit(fused))
    shown = {True: "yes", False: "no", None: ""}
    return [
        {
            **r,
            "at_diagnosis": r[counted],
            "percent": format_percent(r["fraction_at_diagnosis"]),
            "productive_text": shown[r["productive"]],
            "genes": f"{r['v']} / {r['j']}" if r["v"] and r["j"] else str(r["clone"]),
        }
        for r in rows
    ]


def contamination_table(path: Path) -> list[dict[str, str]]:
    """The rows of a run's contamination table (`vidjil contamination`), counted in
    reads or in molecules (each row's `unit`, `count` and `other_count`), fractions
    as percents."""
    try:
        rows = read_contamination_table(path)
    except UserError as exc:
        raise Unavailable(f"{path.name}: unreadable ({str(exc).removeprefix(f'{path}: ')})") from None
    return [
        {**row, **{key: "" if row[key] is None else format_percent(row[key]) for key in ("fraction", "other_fraction")}}
        for row in rows
    ]


def set_page_data(fused: dict[str, Any], link: MarkerLink) -> dict[str, Any]:
    """What a set page shows of its fused document: the alerts, the marker clones
    and MRD summary, the followed clones per sample (with their V and J genes) and the plots."""
    markers = marker_clones(fused)
    mrd = mrd_rows(fused, markers, link)
    recorded: dict[str, Any] = fused["_mrd"] if isinstance(fused.get("_mrd"), dict) else {}
    fraction = recorded.get("marker_fraction", MARKER_FRACTION)
    return {
        "fused": fused,
        "names": sample_names(fused),
        "markers": [{**m, "label": marker_label(m)} for m in markers],
        "marker_tops": {m["top"] for m in markers},
        "mrd": mrd,
        "spiked": any(cell["spike"] for entry in mrd for cell in entry["cells"]),
        "with_cells": any(entry["cell_equivalents"] for entry in mrd),
        "count_unit": count_unit(fused),
        "alerts": alert_list(fused),
        "alerts_recorded": "alerts" in recorded,
        "marker_flags": marker_flags(fused),
        "marker_percent": f"{100 * fraction:g}%" if isinstance(fraction, int | float) else "5%",
        "lod_reads": LOD_READS,
        "loq_reads": LOQ_READS,
        "lod_cells": LOD_CELLS,
        "loq_cells": LOQ_CELLS,
        "followed": followed_cells(fused),
        "genes": [(_gene(c.get("seg") or {}, "5"), _gene(c.get("seg") or {}, "3")) for c in fused["clones"]],
        "plot": script_json({"curves": clone_curves(fused, markers=markers), "vj": vj_usage(fused)}),
    }


def document_members(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The samples of a fused document as the set page lists them."""
    names = sample_names(doc)
    infos = per_sample(doc.get("samples", {}).get("info"), len(names), "")
    return [
        {"position": k, "name": name, "date": when, "info": str(info)}
        for k, (name, when, info) in enumerate(zip(names, sample_dates(doc), infos, strict=True), start=1)
    ]


def file_set_info(doc: dict[str, Any], file: VidjilFile) -> dict[str, Any]:
    """A fused file's heading: its set (`_set`, as `vidjil fuse` records it), else the file."""
    recorded: dict[str, Any] = doc["_set"] if isinstance(doc.get("_set"), dict) else {}
    info = recorded.get("info") or doc.get("info") or ""
    return {
        "name": str(recorded.get("name") or file.name),
        "type": str(recorded.get("type") or "fused file"),
        "info": str(info) if isinstance(info, str | int | float) else "",
    }


def document_airr(doc: dict[str, Any], tops: list[int]) -> list[dict[str, str]]:
    """AIRR rows of the chosen clones of a document that has no AIRR file beside it
    (one row per clone and sample with reads), samples named as the pages name them."""
    wanted = set(tops)
    samples = {**doc.get("samples", {}), "original_names": sample_names(doc)}
    chosen = {**doc, "samples": samples, "clones": [c for c in doc["clones"] if c["top"] in wanted]}
    try:
        return fused_rows(chosen)
    except (KeyError, TypeError, ValueError) as exc:
        raise Unavailable(f"these clones have no AIRR form ({exc})") from None
