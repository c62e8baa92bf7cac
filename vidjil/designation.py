"""A clone's designation (the engine's dict, positions 0-based with exclusive ends)
as `.vidjil` `seg` boxes, warnings and AIRR fields (positions 1-based, closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .vidjil_core import Designation, FailedDesignation, Segment


def _box(segment: Segment) -> dict[str, Any]:
    return {
        "name": segment["name"],
        "start": segment["start"] + 1,
        "stop": segment["end"],
        "delLeft": segment["del_left"],
        "delRight": segment["del_right"],
    }


def _d_segments(des: Designation) -> list[Segment]:
    return [s for s in des["segments"] if s["role"] == "4"]


def seg_fields(des: Designation, sequence: str) -> dict[str, Any]:
    """`5`, `4` (and `4b` for a second D), `3`, `N1`/`N2` lengths, `cdr3`,
    `junction` and the e-values, as the Vidjil web client reads them."""
    segments = des["segments"]
    seg: dict[str, Any] = {"5": _box(segments[0]), "3": _box(segments[-1])}
    for key, d in zip(["4", "4b"], _d_segments(des), strict=False):
        seg[key] = _box(d)
    inserts = [sequence[a:b] for a, b in des["inserts"]]
    seg["N1"] = len(inserts[0])
    if len(inserts) > 1:
        seg["N2"] = len(inserts[-1])
    seg["_inserts"] = inserts
    junction = des["junction"]
    if junction:
        seg["junction"] = {
            "start": junction["start"] + 1,
            "stop": junction["end"],
            "aa": junction["aa"],
            "productive": junction["productive"],
        }
        if junction["unproductive"]:
            seg["junction"]["unproductive"] = junction["unproductive"]
        if junction["cdr3"]:
            start, end = junction["cdr3"]
            seg["cdr3"] = {"start": start + 1, "stop": end, "seq": sequence[start:end], "aa": junction["aa"][1:-1]}
    seg["evalue"] = {"val": f"{des['evalue']:.6e}"}
    seg["evalue_left"] = {"val": f"{des['evalue_v']:.6e}"}
    seg["evalue_right"] = {"val": f"{des['evalue_j']:.6e}"}
    for key, segment in (("5alt", segments[0]), ("3alt", segments[-1])):
        if segment["alternatives"]:
            seg[key] = [{"name": name, "score": score} for name, score in segment["alternatives"]]
    return seg


def _calls(segment: Segment) -> str:
    """The best allele, then the alternatives kept with `--alternative-genes`."""
    return ",".join([segment["name"], *(name for name, _ in segment["alternatives"])])


def _gene_fields(prefix: str, segment: Segment) -> dict[str, str]:
    """Alignment of one gene; `*_sequence_start/end` are positions in `sequence`."""
    return {
        f"{prefix}_cigar": segment["cigar"],
        f"{prefix}_score": str(segment["score"]),
        f"{prefix}_support": f"{segment['evalue']:.3e}",
        f"{prefix}_identity": f"{segment['identity']:.4f}",
        f"{prefix}_sequence_start": str(segment["start"] + 1),
        f"{prefix}_sequence_end": str(segment["end"]),
        f"{prefix}_germline_start": str(segment["germline_start"] + 1),
        f"{prefix}_germline_end": str(segment["germline_end"]),
    }


AIRR_FIELDS = [
    "v_call",
    "d_call",
    "d2_call",
    "j_call",
    "sequence_alignment",
    "germline_alignment",
    "junction",
    "junction_aa",
    "junction_length",
    "cdr3",
    "cdr3_aa",
    "cdr3_start",
    "cdr3_end",
    "productive",
    "vj_in_frame",
    "stop_codon",
    "np1",
    "np1_length",
    "np2",
    "np2_length",
    *(
        f"{gene}_{field}"
        for gene in ("v", "d", "d2", "j")
        for field in (
            "cigar",
            "score",
            "support",
            "identity",
            "sequence_start",
            "sequence_end",
            "germline_start",
            "germline_end",
        )
    ),
]


def airr_fields(des: Designation | FailedDesignation | None, sequence: str) -> dict[str, str]:
    """AIRR Rearrangement fields of a designation (empty strings when none)."""
    fields = dict.fromkeys(AIRR_FIELDS, "")
    if des is None or "failed" in des:
        return fields
    segments = des["segments"]
    v, j, ds = segments[0], segments[-1], _d_segments(des)
    fields["v_call"] = _calls(v)
    fields["j_call"] = _calls(j)
    fields.update(_gene_fields("v", v))
    fields.update(_gene_fields("j", j))
    for prefix, d in zip(["d", "d2"], ds, strict=False):
        fields[f"{prefix}_call"] = d["name"]
        fields.update(_gene_fields(prefix, d))
    fields["sequence_alignment"] = des["sequence_alignment"]
    fields["germline_alignment"] = des["germline_alignment"]
    inserts = [sequence[a:b] for a, b in des["inserts"]]
    fields["np1"], fields["np1_length"] = inserts[0], str(len(inserts[0]))
    if len(inserts) > 1:
        fields["np2"], fields["np2_length"] = inserts[-1], str(len(inserts[-1]))
    junction = des["junction"]
    if junction:
        fields["junction"] = junction["nt"]
        fields["junction_aa"] = junction["aa"]
        fields["junction_length"] = str(len(junction["nt"]))
        fields["productive"] = "T" if junction["productive"] else "F"
        fields["vj_in_frame"] = "T" if junction["in_frame"] else "F"
        fields["stop_codon"] = "T" if junction["stop_codon"] else "F"
        if junction["cdr3"]:
            start, end = junction["cdr3"]
            fields["cdr3"] = sequence[start:end]
            fields["cdr3_aa"] = junction["aa"][1:-1]
            fields["cdr3_start"], fields["cdr3_end"] = str(start + 1), str(end)
    return fields
