"""The `.vidjil` JSON file (format 2016b) read by the Vidjil web client: reading it
(ours and the reference tool's), writing a sample's document, and the warning codes
its clones and samples carry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .airr_format import locus_of
from .designation import seg_fields
from .errors import UserError
from .files import read_text

if TYPE_CHECKING:
    from .vidjil_core import Clone, Designation, FailedDesignation, RunResult

VIDJIL_JSON_VERSION = "2016b"

# Warning codes (Vidjil's numbering, and its meaning where it has the code).
W_FEW_DETECTED = "W20"  # sample: very few recombinations detected
W_SHIFTED_WINDOW = "W50"  # clone: short or shifted window
W_LOW_COVERAGE = "W51"  # clone: representative short for the reads
W_SIMILAR = "W53"  # clone: one substitution from, or designated as, a larger clone
W_DESIGNATION_FAILED = "W68"
W_TIED_GENES = "W69"
W_DESIGNATIONS_DIFFER = "W81"  # fused clone: designated differently in its samples
W_PRODUCTIVITY_DIFFERS = "W82"  # fused clone: productive in some samples only
# Follow-up alerts of a fused set (ours: the reference tool has no such codes).
W_MRD_RISING = "W90"  # marker clone: up by 10x or more between consecutive samples
W_MRD_RETURNS = "W91"  # marker clone: detected after a negative sample
W_MRD_NOT_SENSITIVE = "W92"  # marker clone: no longer quantifiable, the sample's LoQ above its previous value
W_NEW_CLONE = "W93"  # clone: large in a follow-up sample, absent at diagnosis

# Below this share of detected reads, the sample gets warning W20 as in Vidjil.
FEW_DETECTED = 0.10
# A clone whose representative is shorter than this fraction of its average read
# length gets W51 (Vidjil's coverage).
LOW_COVERAGE = 0.5


def coverage(clone: Clone) -> float | None:
    """Length of the representative over the clone's average read length."""
    rep = clone.get("representative")
    if not rep or not clone["average_length"]:
        return None
    return float(min(1.0, len(rep["sequence"]) / clone["average_length"]))


# The engine's reasons for an undetected read (`reads._undetected` keys), in words.
UNDETECTED_WORDS = {
    "too-short": "too short",
    "strand-inconsistent": "V and J k-mers on opposite strands",
    "too-few-vj": "too few V/J k-mers",
    "only-v": "only a V side found",
    "only-j": "only a J side found",
    "ambiguous": "ambiguous (several loci)",
    "too-short-for-window": "too short for the window",
    "no-umi": "no valid UMI (--umi)",
    "n-in-window": "N in the window",
}


def undetected_in_words(reason: str) -> str:
    return UNDETECTED_WORDS.get(reason, reason.replace("-", " "))


def warning(code: str, msg: str, level: str = "warn") -> dict[str, str]:
    """A warning entry of a `.vidjil` clone or sample."""
    return {"code": code, "level": level, "msg": msg}


def read_vidjil(path: Path) -> dict[str, Any]:
    """A `.vidjil` document (plain or gzip), checked for what fusing needs."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a readable .vidjil file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("clones"), list) or "reads" not in doc:
        raise UserError(f"{path}: not a .vidjil document (no 'clones' list or no 'reads')")
    # A set fused in reads has no clone molecules: earlier versions of `vidjil fuse`
    # copied the best sample's (one count) into the clones of a set mixing samples
    # with and without UMIs.
    stale = "_fuse" in doc and doc.get("_counts") != "molecules"
    for clone in doc["clones"]:
        if isinstance(clone, dict) and not isinstance(clone.get("sequence", ""), str):
            del clone["sequence"]  # the reference tool writes 0 for a clone without one
        if stale and isinstance(clone, dict):
            clone.pop("molecules", None)
            clone.pop("_umi", None)
    problem = document_problem(doc)
    if problem:
        raise UserError(f"{path}: not a .vidjil document this tool reads: {problem}")
    number_clones(doc)
    return doc


def number_clones(doc: dict[str, Any]) -> None:
    """Give every clone its own `top` (pages, tables and markers name clones by it):
    the reference's fused files repeat them (each clone's best rank in any sample),
    so they are then numbered in the file's order."""
    tops = [clone.get("top") for clone in doc["clones"]]
    if not all(isinstance(top, int) for top in tops) or len(set(tops)) != len(tops):
        for position, clone in enumerate(doc["clones"], start=1):
            clone["top"] = position


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_counts(value: Any) -> bool:
    """A count, or one per sample."""
    return _is_count(value) or (isinstance(value, list) and all(_is_count(v) for v in value))


def _typed(record: Mapping[str, Any], types: Mapping[str, type | tuple[type, ...]]) -> str | None:
    for key, expected in types.items():
        if key in record and record[key] is not None and not isinstance(record[key], expected):
            return f"'{key}' is not a {getattr(expected, '__name__', 'value of the expected kind')}"
    return None


def _per_sample_counts(value: Any, n: int) -> bool:
    """A list of `n` counts (n >= 1), one per sample."""
    return isinstance(value, list) and len(value) == n > 0 and all(_is_count(v) for v in value)


def _samples_of(counts: Any) -> int:
    """How many samples a count field has (a scalar: one)."""
    return len(counts) if isinstance(counts, list) else 1


def _molecules_problem(clone: dict[str, Any]) -> str | None:
    """With UMIs (`detect --umi`) a clone has `molecules`: one count per sample, as `reads`."""
    if "molecules" not in clone:
        return None
    n = _samples_of(clone["reads"])
    if not _per_sample_counts(clone["molecules"], n):
        plural = "s" * (n > 1)
        return f"'molecules' is not a list of {n} non-negative integer count{plural} (one per sample, as 'reads')"
    return None


def _clone_problem(clone: Any) -> str | None:
    if not isinstance(clone, dict):
        return "not an object"
    if not isinstance(clone.get("id"), str) or not _is_counts(clone.get("reads")):
        return "no 'id' text or no 'reads' count"
    if problem := _molecules_problem(clone):
        return problem
    kinds = {"germline": str, "sequence": str, "name": str, "top": int, "seg": dict, "warn": list, "_mrd": dict}
    problem = _typed(clone, kinds | {"_airr": dict, "_unexpected": dict})
    seg = clone.get("seg") or {}
    for key in ("5", "4", "4b", "3"):
        box = seg.get(key)
        if box is not None and not isinstance(box, str | dict):
            problem = problem or f"seg '{key}' is not a gene"
        elif isinstance(box, dict):
            problem = problem or _typed(box, {"name": str, "start": int, "stop": int})
    junction = seg.get("junction")
    if junction is not None and not isinstance(junction, dict):
        problem = problem or "seg 'junction' is not an object"
    elif isinstance(junction, dict):
        problem = problem or _typed(junction, {"start": int, "stop": int, "aa": str, "productive": (bool, int)})
    return problem


def _sample_molecules_problem(doc: dict[str, Any]) -> str | None:
    """A sample of `detect --umi` has `molecules`: `segmented` (one count per sample, as
    `reads.segmented`) and `germline` (a table of such counts per system); a fused set
    says what its counts are in `_counts`."""
    if doc.get("_counts", "reads") not in ("reads", "molecules"):
        return "'_counts' is neither 'reads' nor 'molecules'"
    if "molecules" not in doc:
        return None
    molecules = doc["molecules"]
    n = _samples_of(doc["reads"]["segmented"])
    counts = f"a list of {n} non-negative integer count{'s' * (n > 1)} (one per sample, as 'reads.segmented')"
    if not isinstance(molecules, dict):
        return "'molecules' is not an object"
    if not _per_sample_counts(molecules.get("segmented"), n):
        return f"'molecules.segmented' is not {counts}"
    germline = molecules.get("germline", {})
    if not isinstance(germline, dict) or not all(_per_sample_counts(v, n) for v in germline.values()):
        return f"'molecules.germline' is not a table of {counts}"
    return None


def document_problem(doc: dict[str, Any]) -> str | None:
    """What makes `doc` unreadable where this tool reads it (the read counts and the
    clones' fields fusing, reports and the viewer use), or None."""
    reads = doc["reads"]
    if not isinstance(reads, dict) or not _is_counts(reads.get("total")) or not _is_counts(reads.get("segmented")):
        return "'reads' has no 'total' and 'segmented' counts"
    for key in ("germline", "_undetected"):
        # A table of counts (per sample), or for a fused set's reasons one table per sample.
        table = reads.get(key, {})
        tables = table if key == "_undetected" and isinstance(table, list) else [table]
        if not all(isinstance(t, dict) and all(_is_counts(v) for v in t.values()) for t in tables):
            return f"'reads.{key}' is not a table of counts"
    if not isinstance(doc.get("samples", {}), dict):
        return "'samples' is not an object"
    if problem := _sample_molecules_problem(doc):
        return problem
    for rank, clone in enumerate(doc["clones"], start=1):
        problem = _clone_problem(clone)
        if problem:
            return f"clone {rank}: {problem}"
    return None


def junction_nt(clone: Mapping[str, Any]) -> str:
    """The junction of a `.vidjil` clone in nucleotides ('' when not designated)."""
    junction = (clone.get("seg") or {}).get("junction")
    sequence = clone.get("sequence")
    if not isinstance(junction, dict) or not isinstance(sequence, str):
        return ""
    start, stop = junction.get("start"), junction.get("stop")
    return sequence[start - 1 : stop] if isinstance(start, int) and isinstance(stop, int) else ""


def clone_junction(clone: Mapping[str, Any]) -> str:
    """The junction in upper-case nucleotides, from the designation or from the AIRR
    row a clone came from ('' when neither has one)."""
    airr = clone.get("_airr")
    from_airr = airr.get("junction", "") if isinstance(airr, dict) else ""
    return str(junction_nt(clone) or from_airr).upper()


def clone_locus(clone: Mapping[str, Any]) -> str:
    """The AIRR locus of a `.vidjil` clone (an unexpected clone: its J side's)."""
    return locus_of(str(clone.get("germline", "")), clone.get("_unexpected", {}).get("loci"))


def designation_warnings(des: Designation | FailedDesignation | None) -> list[tuple[str, str]]:
    """(code, message): W68 when the designation failed, W69 on tied genes."""
    if des is None:
        return []
    if "failed" in des:
        return [(W_DESIGNATION_FAILED, f"V(D)J designation failed: {des['failed']}")]
    if des["tied_genes"]:
        return [(W_TIED_GENES, "Several genes with equal probability: " + ", ".join(des["tied_genes"]))]
    return []


def clone_warnings(clone: Clone, same_as: int | None = None) -> list[dict[str, str]]:
    """W50 shifted window, W51 low coverage of the representative, W53 near-duplicate
    window or same designation as the larger clone ranked `same_as`, W68 designation
    failed, W69 tied genes."""
    warnings = [warning(code, msg) for code, msg in designation_warnings(clone.get("designation"))]
    if clone["shifted_reads"] * 2 > clone["reads"]:
        warnings.append(warning(W_SHIFTED_WINDOW, "Short or shifted window", "info"))
    cov = coverage(clone)
    if cov is not None and cov < LOW_COVERAGE:
        warnings.append(warning(W_LOW_COVERAGE, f"Low coverage of the representative ({cov:.2f})"))
    if clone.get("near_duplicate_of"):
        warnings.append(
            warning(W_SIMILAR, f"Similar to another clone {clone['near_duplicate_of']} (one substitution, not merged)")
        )
    if same_as is not None:
        warnings.append(warning(W_SIMILAR, f"Same designation and junction as the larger clone ranked {same_as}"))
    return warnings


def same_designation_ranks(clones: list[Clone]) -> list[int | None]:
    """For each clone, the rank of the first larger clone with the same designation
    and junction (clones are sorted by size), or None."""
    first: dict[tuple[str, str], int] = {}
    out: list[int | None] = []
    for rank, clone in enumerate(clones, start=1):
        des = clone.get("designation")
        if not des or "failed" in des:
            out.append(None)
            continue
        junction = des["junction"]
        key = (des["name"], junction["nt"] if junction else "")
        out.append(first.get(key))
        first.setdefault(key, rank)
    return out


def clone_entry(clone: Clone, rank: int, same_as: int | None = None) -> dict[str, Any]:
    rep = clone.get("representative")
    entry: dict[str, Any] = {
        "id": clone["window"],
        "reads": [clone["reads"]],
    }
    umi = clone.get("umi")
    if umi is not None:
        # Molecules next to reads (with --umi): what clones are ranked on.
        entry["molecules"] = [umi["molecules"]]
        entry["_umi"] = [
            {
                "reads_in_molecules": umi["reads_in_molecules"],
                "umis": umi["umis"],
                "umis_merged": umi["umis_merged"],
                "molecules_below_min_reads": umi["molecules_dropped"],
                "molecules_hidden_by_umi_collisions": umi["molecules_hidden"],
                "top": [list(t) for t in umi["top_umis"]],
            }
        ]
    entry |= {
        "top": rank,
        "germline": clone["system"],
        "sequence": rep["sequence"] if rep else clone["window"],
        "_average_read_length": [round(clone["average_length"], 1)],
    }
    seg: dict[str, Any] = {}
    if rep:
        start = rep["window_start"]
        # Positions are 1-based, closed.
        cov = coverage(clone) or 0.0
        entry["_coverage"] = [round(cov, 3)]
        entry["_coverage_info"] = [
            f"{len(rep['sequence'])} bp ({100 * cov:.0f}% of {clone['average_length']:.1f} bp), "
            f"from {rep['samples']} sampled reads"
        ]
        seg["window"] = {"start": start + 1, "stop": start + len(clone["window"])}
        if rep["evalue"] is not None:
            seg["evalue"] = {"val": f"{rep['evalue']:.6e}"}
            seg["evalue_left"] = {"val": f"{rep['evalue_v']:.6e}"}
            seg["evalue_right"] = {"val": f"{rep['evalue_j']:.6e}"}
        des = clone.get("designation")
        if des and "failed" not in des:
            entry["name"] = des["name"]
            seg.update(seg_fields(des, rep["sequence"]))
    if seg:
        entry["seg"] = seg
    if "loci" in clone:
        entry["_unexpected"] = {"systems": list(clone["pair"]), "loci": list(clone["loci"])}
    if clone["merged_count"]:
        entry["_merged"] = {
            "windows": clone["merged_count"],
            "reads": clone["merged_reads"],
            "ids": clone["merged_windows"],
        }
    warnings = clone_warnings(clone, same_as)
    if warnings:
        entry["warn"] = warnings
    return entry


def sample_log(result: RunResult) -> str:
    """A Vidjil-like text summary of the detection."""
    total = result["total"]["reads"] or 1
    det = result["detected"]["reads"]
    lines = []
    pairs = result["pairs"]
    if pairs["merged"] or pairs["not_merged"]:
        lines.append(
            f"  ==> paired-end: {pairs['merged']} pairs merged, {pairs['not_merged']} not merged "
            f"(detected on each mate, counted once), {pairs['unpaired']} unpaired reads"
        )
    lines.append(f"  ==> junction detected in {det} reads ({100 * det / total:.1f}%)")
    lines.append(f"  ==> found {result['distinct_windows']} windows in {det} reads")
    lines.append("                          reads av. len")
    for name, t in result["systems"].items():
        if t["reads"]:
            lines.append(f"  {name:<16}->  {t['reads']:>7}  {t['length'] / t['reads']:>6.1f}")
    for t in result["reasons"].values():
        if t["reads"]:
            lines.append(f"  {t['label']:<24}->  {t['reads']:>7}  {t['length'] / t['reads']:>6.1f}")
    umi = result["umi"]
    if umi is not None:
        lines.append(
            f"  ==> UMIs ({umi['source']}): {umi['molecules']} molecules from {umi['reads_in_molecules']} reads, "
            f"{umi['reads_without_umi']['reads']} reads without UMI, {umi['umis_merged']} UMIs merged"
        )
    return "\n".join(lines) + "\n"


def undetected_counts(result: RunResult) -> dict[str, int]:
    """Undetected reads per reason; with --umi, the reads without a valid UMI (`no-umi`)."""
    counts = {key: t["reads"] for key, t in result["reasons"].items()}
    if result["umi"] is not None:
        counts["no-umi"] = result["umi"]["reads_without_umi"]["reads"]
    return counts


def molecules_section(result: RunResult) -> dict[str, Any]:
    """With --umi: `molecules`, the sample's molecules as `reads` gives its reads
    (`segmented`: every clone, `germline`: per system), and how UMIs were read."""
    umi = result["umi"]
    if umi is None:
        return {}
    return {
        "molecules": {
            "segmented": [umi["molecules"]],
            "germline": {name: [n] for name, n in umi["molecules_by_system"].items()},
            "_umi": [{"source": umi["source"], "min_reads_per_umi": umi["min_reads_per_umi"]}],
        }
    }


def vidjil_document(
    result: RunResult,
    *,
    producer: str,
    timestamp: str,
    command_line: str,
    sample_name: str,
    inputs: list[dict[str, Any]],
    germline: dict[str, Any],
    min_reads: int,
) -> dict[str, Any]:
    total = result["total"]["reads"]
    detected = result["detected"]["reads"]
    warnings = []
    if total and detected / total < FEW_DETECTED:
        warnings.append(warning(W_FEW_DETECTED, f"Very few V(D)J recombinations found: {100 * detected / total:.2f}%"))
    div = result["diversity"]
    return {
        "vidjil_json_version": VIDJIL_JSON_VERSION,
        "producer": producer,
        "timestamp": timestamp,
        "samples": {
            "number": 1,
            "original_names": [sample_name],
            "run_timestamp": [timestamp],
            "producer": [producer],
            "commandline": [command_line],
            "log": [sample_log(result)],
            "_inputs": [inputs],
            "_pairs": [{key: result["pairs"][key] for key in ("merged", "not_merged", "unpaired")}],
            # Clones of fewer reads are not listed: MRD's detection limit is at least this.
            "_min_reads": [min_reads],
        },
        "reads": {
            "total": [total],
            "segmented": [detected],
            "germline": {name: [t["reads"]] for name, t in result["systems"].items()},
            "_undetected": {key: [n] for key, n in undetected_counts(result).items()},
            "_distribution": [{"min_reads": d, "clones": w, "reads": r} for d, w, r in result["distribution"]],
        },
        **molecules_section(result),
        "germlines": germline,
        "diversity": {
            "index_H_entropy": [div["shannon"]],
            "index_E_equitability": [div["evenness"]],
            "index_Ds_diversity": [div["simpson"]],
            # What the indices count clones in: molecules with --umi.
            "_counts": ["molecules" if result["umi"] is not None else "reads"],
            # Per system, over all clones (windows) whatever their size: what fusing
            # cannot recompute from the reported clones (>= -r reads).
            "_by_system": [
                {
                    name: {**d, "clonality": 1 - d["evenness"]}
                    for name, d in result["diversity_by_system"].items()
                    if d["clones"]
                }
            ],
        },
        "warn": warnings,
        "clones": [
            clone_entry(c, rank, same_as)
            for rank, (c, same_as) in enumerate(
                zip(result["clones"], same_designation_ranks(result["clones"]), strict=True), start=1
            )
        ],
    }
