"""AIRR Rearrangement TSV, one row per clone."""

from __future__ import annotations

import csv
from typing import IO, Any

from .designation import AIRR_FIELDS, airr_fields

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


def locus_of(clone: dict[str, Any]) -> str:
    if "loci" in clone:
        return str(clone["loci"][1])
    system = str(clone["system"])
    return SYSTEM_LOCUS.get(system, system.rstrip("+")[:3])


def airr_rows(result: dict[str, Any], sample_name: str, germline_id: str) -> list[dict[str, str]]:
    from .vidjil_format import clone_warnings, same_designation_ranks

    rows = []
    same = same_designation_ranks(result["clones"])
    for rank, clone in enumerate(result["clones"], start=1):
        rep = clone.get("representative")
        sequence = rep["sequence"] if rep else clone["window"]
        window_start = rep["window_start"] + 1 if rep else 1
        evalue = rep["evalue"] if rep and rep["evalue"] is not None else None
        rows.append(
            {
                "sequence_id": f"{sample_name}-{rank}",
                "sequence": sequence,
                "rev_comp": "F",
                **airr_fields(clone.get("designation") if rep else None, sequence),
                "locus": locus_of(clone),
                "clone_id": str(rank),
                "duplicate_count": str(clone["reads"]),
                "vidjil_system": str(clone["system"]),
                "vidjil_window": clone["window"],
                "vidjil_window_start": str(window_start),
                "vidjil_evalue": "" if evalue is None else f"{evalue:.3e}",
                "vidjil_warnings": ",".join(w["code"] for w in clone_warnings(clone, same[rank - 1])),
                "germline_database": germline_id,
            }
        )
    return rows


def write_airr(handle: IO[str], rows: list[dict[str, str]]) -> None:
    writer = csv.DictWriter(handle, fieldnames=FIELDS, delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
