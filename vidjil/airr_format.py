"""AIRR Rearrangement TSV: one row per clone of a sample or per clone and sample
of a fused set (writing), and the rows of a file (reading)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .designation import AIRR_FIELDS, airr_fields
from .errors import UserError
from .files import read_text

if TYPE_CHECKING:
    from .vidjil_core import RunResult

# Required fields of the AIRR Rearrangement schema, in schema order, then ours.
REQUIRED = [
    "sequence_id",
    "sequence",
    "rev_comp",
    "productive",
    "v_call",
    "d_call",
    "j_call",
    "sequence_alignment",
    "germline_alignment",
    "junction",
    "junction_aa",
    "v_cigar",
    "d_cigar",
    "j_cigar",
]
OPTIONAL = [
    "locus",
    "clone_id",
    "duplicate_count",
    "vidjil_system",
    "vidjil_window",
    "vidjil_window_start",
    "vidjil_evalue",
    "vidjil_warnings",
    "germline_database",
]
FIELDS = REQUIRED + [f for f in AIRR_FIELDS if f not in REQUIRED] + OPTIONAL

# AIRR `locus` of each Vidjil system (incomplete systems keep their locus).
SYSTEM_LOCUS = {"TRA+D": "TRA", "TRD+": "TRD", "TRB+": "TRB", "IGH+": "IGH", "IGK+": "IGK"}


def locus_of(system: str, loci: Sequence[str] | None = None) -> str:
    """The AIRR locus of a Vidjil system; an unexpected recombination (`loci`: the
    loci of its V and J sides) has its J side's."""
    if loci:
        return str(loci[1])
    return SYSTEM_LOCUS.get(system, system.rstrip("+")[:3])


def airr_rows(result: RunResult, sample_name: str, germline_id: str) -> list[dict[str, str]]:
    from .vidjil_format import clone_warnings, same_designation_ranks

    rows = []
    same = same_designation_ranks(result["clones"])
    for rank, clone in enumerate(result["clones"], start=1):
        rep = clone.get("representative")
        sequence = rep["sequence"] if rep else clone["window"]
        window_start = rep["window_start"] + 1 if rep else 1
        evalue = rep["evalue"] if rep and rep["evalue"] is not None else None
        umi = clone.get("umi")
        # With UMIs: molecules (umi_count) and the reads of their consensus (consensus_count).
        counts = (
            {"umi_count": str(umi["molecules"]), "consensus_count": str(umi["reads_in_molecules"])}
            if umi is not None
            else {}
        )
        rows.append(
            {
                "sequence_id": f"{sample_name}-{rank}",
                "sequence": sequence,
                "rev_comp": "F",
                **airr_fields(clone.get("designation") if rep else None, sequence),
                "locus": locus_of(str(clone["system"]), clone.get("loci")),
                "clone_id": str(rank),
                "duplicate_count": str(clone["reads"]),
                "vidjil_system": str(clone["system"]),
                "vidjil_window": clone["window"],
                "vidjil_window_start": str(window_start),
                "vidjil_evalue": "" if evalue is None else f"{evalue:.3e}",
                "vidjil_warnings": ",".join(w["code"] for w in clone_warnings(clone, same[rank - 1])),
                "germline_database": germline_id,
            }
            | counts
        )
    return rows


def segment_name(seg: dict[str, Any], key: str) -> str:
    """The gene of a `.vidjil` seg box: {"name": ...}, or the bare name older
    files of the reference tool write."""
    box = seg.get(key)
    if isinstance(box, dict):
        return str(box.get("name", ""))
    return str(box) if isinstance(box, str) else ""


def fused_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Rows of a fused `.vidjil` document: one per followed clone and sample where it
    has reads, `repertoire_id` the sample, `clone_id` shared across samples."""
    from .vidjil_format import junction_nt

    names = doc["samples"]["original_names"]
    rows = []
    for clone in doc["clones"]:
        airr = clone.get("_airr") or {}
        seg = clone.get("seg") or {}
        junction = seg.get("junction") or {}
        for name, count in zip(names, clone["reads"], strict=True):
            if not count:
                continue
            row = dict.fromkeys(FIELDS, "") | {k: v for k, v in airr.items() if k in FIELDS}
            row |= {
                "sequence_id": f"{clone['top']}-{name}",
                "sequence": clone.get("sequence", ""),
                "rev_comp": "F",
                "v_call": row["v_call"] or segment_name(seg, "5"),
                "d_call": row["d_call"] or segment_name(seg, "4"),
                "j_call": row["j_call"] or segment_name(seg, "3"),
                "junction": row["junction"] or junction_nt(clone),
                "junction_aa": row["junction_aa"] or junction.get("aa", ""),
                "productive": row["productive"] or ("" if not junction else ("T" if junction["productive"] else "F")),
                "clone_id": str(clone["top"]),
                "duplicate_count": str(count),
                "vidjil_window": clone["id"],
                "vidjil_system": str(clone.get("germline", "")),
            }
            row["repertoire_id"] = name
            rows.append(row)
    return rows


def write_airr(handle: IO[str], rows: list[dict[str, str]], extra_fields: Sequence[str] = ()) -> None:
    writer = csv.DictWriter(handle, fieldnames=[*FIELDS, *extra_fields], delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


# What fusing needs of an AIRR input, and one of the counts.
READ_COLUMNS = ["sequence_id", "v_call", "j_call", "junction"]
COUNT_COLUMNS = ["duplicate_count", "consensus_count"]


def read_airr(path: Path) -> list[dict[str, str]]:
    """The rows of an AIRR Rearrangement TSV (plain or gzip) with the columns fusing
    needs; a header without rows is a sample without clones."""
    reader = csv.DictReader(read_text(path).splitlines(), delimiter="\t")
    columns = reader.fieldnames or []
    missing = [c for c in READ_COLUMNS if c not in columns]
    if not any(c in columns for c in COUNT_COLUMNS):
        missing.append(" or ".join(COUNT_COLUMNS))
    if missing:
        raise UserError(f"{path}: not an AIRR Rearrangement TSV: no column {', '.join(missing)}")
    rows = []
    for n, row in enumerate(reader, start=2):
        if None in row:  # more cells than columns
            raise UserError(f"{path}, row {n}: more cells than columns")
        rows.append({k: v or "" for k, v in row.items()})  # fewer cells: empty
    return rows
