"""Germline alleles and simulated clones from the pinned GenAIRR package."""

from __future__ import annotations

from typing import Any

# GenAIRR's IMGT reference configs per species and locus. For mouse the C57BL/6J
# sets are used: the strain-mixed IGK/IGL sets do not load in GenAIRR 2.3.1.
CONFIGS: dict[str, dict[str, str]] = {
    "human": {
        "IGH": "HUMAN_IGH_IMGT",
        "IGK": "HUMAN_IGK_IMGT",
        "IGL": "HUMAN_IGL_IMGT",
        "TRA": "HUMAN_TCRA_IMGT",
        "TRB": "HUMAN_TCRB_IMGT",
        "TRG": "HUMAN_TCRG_IMGT",
        "TRD": "HUMAN_TCRD_IMGT",
    },
    "mouse": {
        "IGH": "MOUSE_C57BL6J_IGH_IMGT",
        "IGK": "MOUSE_C57BL6J_IGK_IMGT",
        "IGL": "MOUSE_C57BL6J_IGL_IMGT",
        "TRA": "MOUSE_C57BL6J_TCRA_IMGT",
        "TRB": "MOUSE_C57BL6J_TCRB_IMGT",
        "TRG": "MOUSE_C57BL6J_TCRG_IMGT",
        "TRD": "MOUSE_C57BL6J_TCRD_IMGT",
    },
}


def config(name: str) -> Any:
    from GenAIRR import data

    return getattr(data, name)


def locus_alleles(species: str) -> dict[str, tuple[str, dict[str, list[tuple[str, str]]]]]:
    """{locus: (config name, {"V"|"D"|"J": [(allele, sequence)]})}. V sequences keep
    their IMGT gaps (the loader finds the Cys anchor from them); duplicates are dropped."""
    out: dict[str, tuple[str, dict[str, list[tuple[str, str]]]]] = {}
    for locus, name in CONFIGS[species].items():
        cfg = config(name)
        segments: dict[str, list[tuple[str, str]]] = {}
        for segment in ("v", "d", "j"):
            seen: set[str] = set()
            alleles: list[tuple[str, str]] = []
            for gene_alleles in (getattr(cfg, f"{segment}_alleles") or {}).values():
                for allele in gene_alleles:
                    if allele.name in seen:
                        continue
                    seen.add(allele.name)
                    gapped = allele.gapped_seq or ""
                    seq = gapped if segment == "v" and "." in gapped else allele.ungapped_seq
                    alleles.append((allele.name, seq.upper()))
            segments[segment.upper()] = alleles
        out[locus] = (name, segments)
    return out
