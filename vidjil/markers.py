"""Marker (index) clones of a fused set and what a lab weighs to choose them.

Candidates: the clones the sets sheet lists (`markers`: windows or junctions, an
optional `LOCUS:` before), else the clones of >= `marker_fraction` of their
locus's detected reads in the diagnosis sample (`diagnosis`, else the first). A
listed marker found in no sample is still followed, negative everywhere.

Flags of each candidate: reads and % at diagnosis, complete or incomplete
recombination (DJ, KDE...: stabler over relapse), productivity, sister clones
(same V and J genes, another junction, at diagnosis among the followed clones:
clonal evolution risk), and other patients' samples of the index with the same
junction (a public clone, or a contamination).

In a set fused in molecules (`mrd.count_unit`), every count and fraction is of
molecules: the threshold, the counts at diagnosis, the sisters', and the other
patients' clones where their samples have molecules (each hit says its unit); the
marker table then names its column `molecules_at_diagnosis`."""

from __future__ import annotations

from typing import Any, TypedDict

from .airr_format import segment_name
from .cross_patient import IndexHit, IndexLookup, other_patient
from .mrd import count_unit, diagnosis_sample, locus_reads, per_sample, threshold_markers
from .vidjil_format import clone_junction, clone_locus

MARKER_FIELDS = [
    "marker",
    "clone",
    "source",
    "locus",
    "v",
    "j",
    "junction",
    "reads_at_diagnosis",
    "fraction_at_diagnosis",
    "recombination",
    "productive",
    "sisters",
    "other_patients",
]


class Sister(TypedDict):
    top: int
    name: str
    junction: str
    reads: int


class MarkerChoice(TypedDict):
    top: int
    source: str
    requested: str
    locus: str
    reads_at_diagnosis: int
    fraction_at_diagnosis: float
    recombination: str
    productive: bool | None
    sisters: list[Sister]
    other_patients: list[IndexHit]


def parse_listed(value: str) -> tuple[str, str]:
    """(locus or '', sequence) of a listed marker: `SEQ` or `LOCUS:SEQ`."""
    locus, _, sequence = value.strip().rpartition(":")
    return locus.strip().upper(), sequence.strip().upper()


def matches(clone: dict[str, Any], listed: str) -> bool:
    """Whether a clone is the listed marker (its window or its junction)."""
    locus, sequence = parse_listed(listed)
    if locus and clone_locus(clone) != locus:
        return False
    return bool(sequence) and sequence in (str(clone.get("id", "")).upper(), clone_junction(clone))


def gene(name: str) -> str:
    """IGHV3-23*01 -> IGHV3-23."""
    return name.split("*")[0].strip()


def v_j(clone: dict[str, Any]) -> tuple[str, str]:
    seg = clone.get("seg") or {}
    airr = clone.get("_airr") or {}
    v = segment_name(seg, "5") or str(airr.get("v_call", "")).split(",")[0]
    j = segment_name(seg, "3") or str(airr.get("j_call", "")).split(",")[0]
    return gene(v), gene(j)


def _absent_clone(listed: str, n: int, top: int) -> dict[str, Any]:
    """A listed marker found in no sample: followed, without reads."""
    locus, sequence = parse_listed(listed)
    return {
        "id": sequence,
        "germline": locus,
        "name": "listed marker, found in no sample",
        "sequence": sequence,
        "reads": [0] * n,
        "top": top,
    }


def choose(fused: dict[str, Any], listed: list[str], fraction: float) -> list[tuple[dict[str, Any], str, str]]:
    """(clone, source, requested) of each marker; listed markers found nowhere are
    added to the document's clones."""
    if not listed:
        return [(clone, "threshold", "") for clone in threshold_markers(fused, diagnosis_sample(fused), fraction)]
    n = len(fused["reads"]["segmented"])
    chosen: list[tuple[dict[str, Any], str, str]] = []
    for value in listed:
        clone = next((c for c in fused["clones"] if matches(c, value)), None)
        if clone is None:
            clone = _absent_clone(value, n, len(fused["clones"]) + 1)
            fused["clones"].append(clone)
        if all(clone is not other for other, _, _ in chosen):
            chosen.append((clone, "sheet", value.strip()))
    return chosen


def _sisters(fused: dict[str, Any], clone: dict[str, Any], diagnosis: int) -> list[Sister]:
    v, j = v_j(clone)
    junction = clone_junction(clone)
    n = len(fused["reads"]["segmented"])
    if not (v and j):
        return []
    sisters = []
    for other in fused["clones"]:
        reads = int(per_sample(other.get("reads"), n, 0)[diagnosis])
        other_junction = clone_junction(other)
        if other is clone or not reads or v_j(other) != (v, j) or not other_junction or other_junction == junction:
            continue
        sisters.append(
            Sister(top=int(other["top"]), name=str(other.get("name", "")), junction=other_junction, reads=reads)
        )
    return sorted(sisters, key=lambda s: (-s["reads"], s["top"]))


def _productive(clone: dict[str, Any]) -> bool | None:
    junction = (clone.get("seg") or {}).get("junction")
    if isinstance(junction, dict) and "productive" in junction:
        return bool(junction["productive"])
    value = (clone.get("_airr") or {}).get("productive")
    return {"T": True, "F": False}.get(str(value)) if value else None


def marker_choices(
    fused: dict[str, Any], listed: list[str], fraction: float, index: IndexLookup, patients: list[str]
) -> list[MarkerChoice]:
    """The markers of a fused document and their flags; `patients`: the patient
    sets of this set's samples (index samples of other patients are flagged)."""
    diagnosis = diagnosis_sample(fused)
    n = len(fused["reads"]["segmented"])
    chosen = choose(fused, listed, fraction)
    hits = index.hits((clone_junction(clone) for clone, _, _ in chosen), count_unit(fused))
    by_locus = locus_reads(fused)
    choices = []
    for clone, source, requested in chosen:
        locus = clone_locus(clone)
        reads = int(per_sample(clone.get("reads"), n, 0)[diagnosis])
        total = by_locus.get(locus, per_sample(fused["reads"]["segmented"], n, 0))[diagnosis]
        system = str(clone.get("germline", ""))
        unexpected = (clone.get("_unexpected") or {}).get("loci")
        recombination = "complete"
        if "+" in system:
            recombination = f"incomplete ({system})"
        elif unexpected:
            recombination = f"unexpected ({'/'.join(map(str, unexpected))})"
        others = [h for h in hits.get(clone_junction(clone), []) if other_patient(patients, h["patients"])]
        choices.append(
            MarkerChoice(
                top=int(clone["top"]),
                source=source,
                requested=requested,
                locus=locus,
                reads_at_diagnosis=reads,
                fraction_at_diagnosis=reads / total if total else 0.0,
                recombination=recombination,
                productive=_productive(clone),
                sisters=_sisters(fused, clone, diagnosis),
                other_patients=others,
            )
        )
    return choices


def _hit_text(hit: IndexHit) -> str:
    unit = hit.get("unit", "reads")
    return f"{hit['sample']} ({'/'.join(hit['patients'])}, run {hit['run']}, {hit['reads']} {unit})"


def at_diagnosis_column(unit: str) -> str:
    """The marker table's count column: `reads_at_diagnosis` or `molecules_at_diagnosis`."""
    return f"{unit}_at_diagnosis"


def marker_rows(fused: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The marker table (`SET.markers.tsv`) of a fused document; its counts in the
    set's unit, and so named (`at_diagnosis_column`)."""
    unit = count_unit(fused)
    counted = at_diagnosis_column(unit)
    fields = [counted if f == "reads_at_diagnosis" else f for f in MARKER_FIELDS]
    by_top = {clone.get("top"): clone for clone in fused["clones"]}
    rows = []
    for choice in (fused.get("_mrd") or {}).get("markers") or []:
        clone = by_top.get(choice.get("top"), {})
        v, j = v_j(clone)
        rows.append(
            {
                "marker": choice["top"],
                "clone": clone.get("name") or clone.get("id", ""),
                "source": "sets sheet: " + choice["requested"] if choice["source"] == "sheet" else "threshold",
                "locus": choice["locus"],
                "v": v,
                "j": j,
                "junction": clone_junction(clone),
                counted: choice["reads_at_diagnosis"],
                "fraction_at_diagnosis": choice["fraction_at_diagnosis"],
                "recombination": choice["recombination"],
                "productive": choice["productive"],
                "sisters": "; ".join(f"clone {s['top']} ({s['reads']} {unit})" for s in choice["sisters"]),
                "other_patients": "; ".join(_hit_text(h) for h in choice["other_patients"]),
            }
        )
    return fields, rows
