"""`vidjil detect`: run the engine on reads and write NAME.vidjil, NAME.airr.tsv
and NAME.stats.json (and NAME.clone-reads.fa.gz with --clone-reads), all or nothing;
`vidjil grep-reads`: the reads of a window or sequence."""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .airr_format import airr_rows, write_airr
from .atomic import AtomicOutputs, atomic_outputs
from .clone_table import write_clone_table
from .errors import UserError
from .germline import germline_identity, load_germline
from .layout import SAMPLE_OPTIONAL_FILES
from .vidjil_core import InputError, default_params
from .vidjil_core import __version__ as engine_version
from .vidjil_core import detect as engine_detect
from .vidjil_core import grep_reads as engine_grep_reads
from .vidjil_core import per_read as engine_per_read

if TYPE_CHECKING:
    from .vidjil_core import Clone, Germline, PairTally, ReasonTally, RunResult, Tally

# The engine's defaults: written there only.
DEFAULTS = default_params()


@dataclass
class DetectOptions:
    reads: list[str]
    output_dir: Path | None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    min_overlap: int = DEFAULTS["min_overlap"]
    max_mismatch_rate: float = DEFAULTS["max_mismatch_rate"]
    name: str | None = None
    germline: str | None = None
    species: str = "human"
    systems: str | None = None
    window: int = DEFAULTS["window"]
    e_value: float = DEFAULTS["e_value"]
    unexpected: bool = DEFAULTS["unexpected"]
    rescue: bool = DEFAULTS["rescue"]
    threads: int = DEFAULTS["threads"]
    min_reads: int = DEFAULTS["min_reads"]
    max_clones: int = DEFAULTS["max_clones"]
    designate: int = DEFAULTS["designate"]
    e_value_d: float = DEFAULTS["e_value_d"]
    several_d: bool = DEFAULTS["several_d"]
    alternative_genes: int = DEFAULTS["alternatives"]
    merge_distance: int = DEFAULTS["merge_distance"]
    merge_ratio: float = DEFAULTS["merge_ratio"]
    max_windows: int = DEFAULTS["max_windows"]
    umi: str | None = DEFAULTS["umi"]  # where the UMI is: molecules are counted
    umi_spacer: str = DEFAULTS["umi_spacer"]
    min_reads_per_umi: int = DEFAULTS["min_reads_per_umi"]
    max_umis: int = DEFAULTS["max_umis"]
    quiet: bool = False
    clone_reads: int | None = None  # write the reads of the top N clones (a second pass)
    run_id: str | None = None  # the `run` column of NAME.clones.parquet
    command_line: str = field(default_factory=lambda: " ".join(sys.argv))


# Mate markers at the end of paired-end file names (S1_L001_R1_001, S1_R1, S1_1).
MATE_SUFFIX = re.compile(r"([._-]R?1)(_001)?$")


def sample_name_of(reads: list[str], paired: bool = False) -> str:
    first = Path(reads[0]).name if reads[0] != "-" else "stdin"
    for suffix in (".gz", ".fastq", ".fq", ".fasta", ".fa", ".fna"):
        if first.endswith(suffix):
            first = first[: -len(suffix)]
    if paired:
        first = MATE_SUFFIX.sub("", first)
    return first or "sample"


def input_paths(opts: DetectOptions) -> list[str]:
    """Every file, in the order the engine reads them: pairs first (R1, R2), then single files."""
    return [path for pair in opts.pairs for path in pair] + opts.reads


def default_name(opts: DetectOptions) -> str:
    if opts.pairs:
        return sample_name_of([opts.pairs[0][0]], paired=True)
    return sample_name_of(opts.reads)


def mate_options(opts: DetectOptions) -> dict[str, Any]:
    """Paired-end arguments of the engine."""
    return {
        "pairs": [tuple(pair) for pair in opts.pairs],
        "min_overlap": opts.min_overlap,
        "max_mismatch_rate": opts.max_mismatch_rate,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def peak_memory_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _input_files(opts: DetectOptions) -> list[dict[str, Any]]:
    """Path, size and, for paired-end files, the mate (R1/R2) of every input."""
    mates = [mate for _ in opts.pairs for mate in ("R1", "R2")]
    inputs: list[dict[str, Any]] = []
    for n, path in enumerate(input_paths(opts)):
        if path == "-":
            inputs.append({"path": "-", "size": None})
            continue
        try:
            size = os.path.getsize(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot open: {exc.strerror}") from None
        inputs.append({"path": path, "size": size} | ({"mate": mates[n]} if n < len(mates) else {}))
    return inputs


def check_output_dir(out: Path) -> None:
    """Refuse an output folder that cannot be written before any work starts."""
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing == out and not out.is_dir():
        raise UserError(f"{out}: output path exists and is not a folder")
    if existing != out and not existing.is_dir():
        raise UserError(f"{out}: cannot create the output folder ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{out}: output folder is not writable ({existing})")


def designation_summary(clones: list[Clone]) -> dict[str, int]:
    """Clones designated, failed (W68), with a junction, productive."""
    designations = [c["designation"] for c in clones if "designation" in c]
    done = [d for d in designations if "failed" not in d]
    return {
        "attempted": len(designations),
        "designated": len(done),
        "failed": len(designations) - len(done),
        "with_junction": sum(d["junction"] is not None for d in done),
        "productive": sum(bool(d["junction"] and d["junction"]["productive"]) for d in done),
    }


def run_per_read(opts: DetectOptions) -> tuple[int, int, int]:
    """`--per-read`: one TSV line per read, to stdout or OUTPUT_DIR/NAME.reads.tsv
    (with --umi, a last column `umi`; reads without one noted `no-umi`).
    Returns (reads, detected, designated)."""
    _input_files(opts)
    if opts.output_dir is not None:
        check_output_dir(opts.output_dir)
    germline = load_germline(opts.germline, opts.species, quiet=opts.quiet, systems=opts.systems)
    options: dict[str, Any] = {
        "window": opts.window,
        "e_value": opts.e_value,
        "unexpected": opts.unexpected,
        "rescue": opts.rescue,
        "threads": opts.threads,
        "e_value_d": opts.e_value_d,
        "several_d": opts.several_d,
        "alternatives": opts.alternative_genes,
        "quiet": opts.quiet,
        # With --umi: the UMI in a last column, its bases trimmed from the read.
        "umi": opts.umi,
        "umi_spacer": opts.umi_spacer,
    } | mate_options(opts)
    try:
        if opts.output_dir is None:
            sys.stdout.flush()
            counts = engine_per_read(germline, list(opts.reads), "-", **options)
        else:
            name = opts.name or default_name(opts)
            path = opts.output_dir / f"{name}.reads.tsv"
            with atomic_outputs() as outputs:
                counts = outputs.write_path(
                    path, lambda tmp: engine_per_read(germline, list(opts.reads), tmp, **options)
                )
    except InputError as exc:
        raise UserError(str(exc)) from None
    if not opts.quiet:
        reads, detected, designated = counts
        print(f"vidjil: {reads} reads, {detected} detected, {designated} designated", file=sys.stderr)
    return counts


def run_detect(opts: DetectOptions) -> dict[str, Any]:
    """Detect, cluster and write the three outputs. Returns the stats document."""
    started = _now()
    t0 = time.perf_counter()
    name = opts.name or default_name(opts)
    assert opts.output_dir is not None
    check_output_dir(opts.output_dir)
    if opts.clone_reads is not None and "-" in opts.reads:
        raise UserError("--clone-reads reads the input twice: give a file, not standard input (-)")
    inputs = _input_files(opts)
    germline = load_germline(opts.germline, opts.species, quiet=opts.quiet, systems=opts.systems)
    identity = germline_identity(germline)
    out = opts.output_dir
    with atomic_outputs() as outputs:
        clone_reads: dict[str, Any] = {}
        if opts.clone_reads is not None:
            clone_reads = {"clone_reads": opts.clone_reads}
            outputs.write_path(
                out / CLONE_READS.format(name=name), lambda tmp: clone_reads.update(clone_reads_path=tmp)
            )
        stats = _detect_and_write(opts, name, inputs, germline, identity, started, t0, outputs, clone_reads)
    return stats


# The reads of the top clones (`--clone-reads`), beside the other outputs.
CLONE_READS = "{name}" + SAMPLE_OPTIONAL_FILES["clone_reads"]


def _detect_and_write(
    opts: DetectOptions,
    name: str,
    inputs: list[dict[str, Any]],
    germline: Germline,
    identity: dict[str, Any],
    started: str,
    t0: float,
    outputs: AtomicOutputs,
    clone_reads: dict[str, Any],
) -> dict[str, Any]:
    """Run the engine (its second pass writes the clone reads to their temporary
    file), then write the three documents into `outputs`."""
    try:
        result = engine_detect(
            germline,
            list(opts.reads),
            window=opts.window,
            e_value=opts.e_value,
            unexpected=opts.unexpected,
            rescue=opts.rescue,
            threads=opts.threads,
            min_reads=opts.min_reads,
            max_clones=opts.max_clones,
            designate=opts.designate,
            e_value_d=opts.e_value_d,
            several_d=opts.several_d,
            alternatives=opts.alternative_genes,
            merge_distance=opts.merge_distance,
            merge_ratio=opts.merge_ratio,
            max_windows=opts.max_windows,
            quiet=opts.quiet,
            **mate_options(opts),
            **clone_reads,
            **umi_options(opts),
        )
    except InputError as exc:
        raise UserError(str(exc)) from None
    for entry, reads in zip(inputs, result["reads_per_file"], strict=False):
        entry["reads"] = reads
    finished = _now()
    producer = f"vidjil-platform {__version__} (vidjil_core {engine_version})"
    germline_doc = {
        "ref": identity["id"],
        "checksum": identity["checksum"],
        "species": germline.species,
        "species_taxon_id": germline.species_taxon_id,
        "systems": {
            s["name"]: {"shortcut": s["shortcut"], "color": s["color"], "description": s["description"]}
            for s in germline.systems()
        },
    }
    from .vidjil_format import vidjil_document

    document = vidjil_document(
        result,
        producer=producer,
        timestamp=finished,
        command_line=opts.command_line,
        sample_name=name,
        inputs=inputs,
        germline=germline_doc,
        min_reads=opts.min_reads,
    )
    stats = stats_document(result, opts, name, inputs, identity, germline.load_seconds, started, finished)
    stats["timings"]["total_seconds"] = round(time.perf_counter() - t0, 3)
    stats["peak_memory_mb"] = round(peak_memory_mb(), 1)
    rows = airr_rows(result, name, identity["id"])
    umi_fields = UMI_AIRR_FIELDS if result["umi"] is not None else ()
    out = opts.output_dir
    assert out is not None
    try:
        outputs.write(out / f"{name}.vidjil", lambda h: json.dump(document, h, indent=1))
        outputs.write(out / f"{name}.airr.tsv", lambda h: write_airr(h, rows, umi_fields))
        metadata = {"producer": producer, "sample": name, "germline": identity["id"], "timestamp": finished}
        outputs.write_path(
            out / f"{name}.clones.parquet", lambda tmp: write_clone_table(tmp, rows, name, opts.run_id, metadata)
        )
        outputs.write(out / f"{name}.stats.json", lambda h: json.dump(stats, h, indent=2))
    except OSError as exc:
        raise UserError(f"{out}: cannot write the outputs: {exc.strerror or exc}") from None
    crowded = result["umi"]["crowded_clones"] if result["umi"] is not None else 0
    if crowded:  # a warning, even with -q
        print(
            f"vidjil: {name}: warning: {crowded} clones have more molecules than their UMIs tell apart "
            "(over 30% share or neighbour a UMI): their molecule counts are rough estimates; longer UMIs count them",
            file=sys.stderr,
        )
    if not opts.quiet:
        det, total = result["detected"]["reads"], result["total"]["reads"]
        unit = "reads and pairs" if opts.pairs else "reads"
        print(
            f"vidjil: {name}: {det}/{total} {unit} detected, {len(result['clones'])} clones "
            f"(>= {opts.min_reads} reads) -> {out}",
            file=sys.stderr,
        )
        written = result["clone_reads"]
        if written is not None:
            unit = "molecules (consensus reads)" if written["molecules"] else "reads"
            print(
                f"vidjil: {name}: {written['reads']} {unit} of the top {written['clones']} clones -> "
                f"{out / CLONE_READS.format(name=name)} ({written['seconds']:.1f} s)",
                file=sys.stderr,
            )
            if not written["exact"]:
                print(
                    f"vidjil: {name}: warning: too many windows were compacted (--max-windows) to follow "
                    "every read: the clone reads may differ from the clones' counts",
                    file=sys.stderr,
                )
        umi = result["umi"]
        if umi is not None:
            print(
                f"vidjil: {name}: {umi['molecules']} molecules (UMIs {umi['source']}), "
                f"{umi['reads_without_umi']['reads']} reads without UMI, {umi['umis_merged']} UMIs merged, "
                f"{umi['collisions']} UMIs in two clones",
                file=sys.stderr,
            )
        if opts.pairs:
            pairs = result["pairs"]
            print(
                f"vidjil: {name}: pairs merged {pairs['merged']}, not merged {pairs['not_merged']}, "
                f"unpaired reads {pairs['unpaired']}",
                file=sys.stderr,
            )
    return stats


def umi_options(opts: DetectOptions) -> dict[str, Any]:
    """UMI arguments of the engine (none without --umi: the engine's defaults)."""
    if opts.umi is None:
        return {}
    return {
        "umi": opts.umi,
        "umi_spacer": opts.umi_spacer,
        "min_reads_per_umi": opts.min_reads_per_umi,
        "max_umis": opts.max_umis,
    }


def umi_stats(result: RunResult) -> dict[str, Any]:
    """`umi` of the stats: molecules, reads per molecule, UMIs merged, reads without
    UMI, collisions, memory; nothing without --umi."""
    umi = result["umi"]
    if umi is None:
        return {}
    molecules = umi["molecules"]
    return {
        "umi": {
            "source": umi["source"],
            "min_reads_per_umi": umi["min_reads_per_umi"],
            "reads_without_umi": umi["reads_without_umi"]["reads"],
            "molecules": molecules,
            "molecules_by_system": umi["molecules_by_system"],
            "reads_in_molecules": umi["reads_in_molecules"],
            "reads_per_molecule": round(umi["reads_in_molecules"] / molecules, 2) if molecules else None,
            "reads_per_molecule_histogram": [{"min_reads": r, "molecules": m} for r, m in umi["reads_per_molecule"]],
            "umis": umi["umis"],
            "umis_merged": umi["umis_merged"],
            "umis_merged_two_substitutions_away": umi["umis_merged_far"],
            "molecules_hidden_by_umi_collisions": umi["molecules_hidden"],
            "clones_with_crowded_umis": umi["crowded_clones"],
            "umi_error_rate": round(umi["model"]["error_rate"], 6),
            "single_read_molecules": round(umi["model"]["single_read_share"], 4),
            "neighbour_umis_grouped": round(umi["model"]["neighbour_loss"], 4),
            "molecules_below_min_reads": umi["molecules_dropped"],
            "reads_in_molecules_below_min_reads": umi["reads_in_dropped_molecules"],
            "molecules_reassigned_to_a_larger_neighbour": umi["molecules_reassigned"],
            "collisions": umi["collisions"],
            "clones_with_collisions": umi["clones_with_collisions"],
            "max_umis": umi["max_umis"],
            "evicted_tables": umi["evicted_tables"],
            "evicted_reads": umi["evicted_reads"],
            "peak_table_entries": umi["peak_entries"],
            "peak_table_mb": round(umi["peak_entries"] * 16 / 2**20, 1),
            "exact": umi["evicted_tables"] == 0,
        }
    }


def pair_stats(pairs: PairTally) -> dict[str, Any]:
    """Merged pairs, pairs not merged (detected on each mate, counted once), reads of
    single-end inputs, and the average overlap of the merged pairs."""
    merged = pairs["merged"]
    return {
        "merged": merged,
        "not_merged": pairs["not_merged"],
        "unpaired": pairs["unpaired"],
        "average_overlap": round(pairs["overlap_bases"] / merged, 1) if merged else None,
    }


def stats_document(
    result: RunResult,
    opts: DetectOptions,
    name: str,
    inputs: list[dict[str, Any]],
    identity: dict[str, Any],
    germline_seconds: float,
    started: str,
    finished: str,
) -> dict[str, Any]:
    def avg(t: Tally | ReasonTally) -> float | None:
        return round(t["length"] / t["reads"], 1) if t["reads"] else None

    total, detected = result["total"], result["detected"]
    return (
        {
            "tool": "vidjil-platform",
            "version": __version__,
            "engine_version": engine_version,
            "sample": name,
            "command_line": opts.command_line,
            "started": started,
            "finished": finished,
            "inputs": inputs,
            "germline": identity | {"load_seconds": round(germline_seconds, 4)},
            "parameters": {
                "window": opts.window,
                "e_value": opts.e_value,
                "unexpected": opts.unexpected,
                "min_reads": opts.min_reads,
                "max_clones": opts.max_clones,
                "designate": opts.designate,
                "e_value_d": opts.e_value_d,
                "several_d": opts.several_d,
                "alternative_genes": opts.alternative_genes,
                "merge_distance": opts.merge_distance,
                "merge_ratio": opts.merge_ratio,
                "max_windows": opts.max_windows,
                "min_overlap": opts.min_overlap,
                "max_mismatch_rate": opts.max_mismatch_rate,
                "threads": result["threads"],
            }
            | umi_options(opts),
            "pairs": pair_stats(result["pairs"]),
            "reads": {
                "total": total["reads"],
                "detected": detected["reads"],
                "detected_fraction": round(detected["reads"] / total["reads"], 6) if total["reads"] else 0.0,
                "average_length": avg(total),
                "average_length_detected": avg(detected),
                "shifted_window": result["shifted_reads"],
            },
            "systems": {
                sys_name: {"reads": t["reads"], "average_length": avg(t)} for sys_name, t in result["systems"].items()
            },
            "undetected": {
                key: {"reads": t["reads"], "average_length": avg(t), "label": t["label"]}
                for key, t in undetected_tallies(result).items()
            },
            "windows": {
                "distinct": result["distinct_windows"],
                "merged_into_larger": result["merged_windows"],
                "dropped_for_memory": result["dropped_windows"],
                "reads_dropped_for_memory": result["dropped_reads"],
            },
            "clones": {
                "reported": len(result["clones"]),
                "with_min_reads": result["clones_above_min"],
                "reads_in_clones_with_min_reads": result["reads_in_clones_above_min"],
                "distribution": [{"min_reads": d, "clones": w, "reads": r} for d, w, r in result["distribution"]],
                "diversity": result["diversity"],
                "diversity_counts": "molecules" if result["umi"] is not None else "reads",
            },
            "designation": designation_summary(result["clones"]),
            "timings": {
                "germline_load_seconds": round(germline_seconds, 4),
                "detection_seconds": round(result["seconds_detection"], 3),
                "clones_seconds": round(result["seconds_clones"], 3),
                "designation_seconds": round(result["seconds_designation"], 3),
            },
            "sampling_threshold": result["sample_threshold"],
        }
        | clone_reads_stats(result, name)
        | umi_stats(result)
    )


# The reason of the reads without a valid UMI (with --umi).
NO_UMI = "no-umi"
UMI_AIRR_FIELDS = ("umi_count", "consensus_count")


def undetected_tallies(result: RunResult) -> dict[str, ReasonTally]:
    """Undetected reads per reason; with --umi, the reads without a valid UMI last."""
    reasons = dict(result["reasons"])
    umi = result["umi"]
    if umi is not None:
        t = umi["reads_without_umi"]
        reasons[NO_UMI] = {"reads": t["reads"], "length": t["length"], "label": "UNSEG no UMI"}
    return reasons


def clone_reads_stats(result: RunResult, name: str) -> dict[str, Any]:
    """`clone_reads` of the stats: the file, clones, reads (per clone), whether the
    counts are exact, and the second pass's time; nothing without --clone-reads."""
    written = result["clone_reads"]
    if written is None:
        return {}
    if written["molecules"]:
        # With --umi: one consensus read per molecule.
        return {
            "clone_reads": {
                "file": CLONE_READS.format(name=name),
                "clones": written["clones"],
                "consensus_per_molecule": True,
                "molecules": written["reads"],
                "molecules_per_clone": written["per_clone"],
                "exact": written["exact"],
                "seconds": round(written["seconds"], 3),
            }
        }
    return {
        "clone_reads": {
            "file": CLONE_READS.format(name=name),
            "clones": written["clones"],
            "reads": written["reads"],
            "reads_per_clone": written["per_clone"],
            "exact": written["exact"],
            "seconds": round(written["seconds"], 3),
        }
    }


@dataclass
class GrepOptions:
    query: str
    reads: list[str]
    output: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    rank: int = 0
    contains: bool = False
    germline: str | None = None
    species: str = "human"
    systems: str | None = None
    window: int | None = None
    e_value: float | None = None
    unexpected: bool = False
    threads: int | None = None
    quiet: bool = False
    umi: str | None = None  # where the UMI is: written in the headers, reads without one skipped
    umi_spacer: str | None = None


def run_grep_reads(opts: GrepOptions) -> tuple[int, int]:
    """`vidjil grep-reads`: FASTA of the reads whose detected window is the query (a
    query of a window's length, 30..63 nt, unless --contains) or that contain it
    (either strand), to OUTPUT (gzip when it ends in .gz; `-`: stdout), all or
    nothing. Returns (reads, written)."""
    if not re.fullmatch(r"[ACGTacgt]+", opts.query):
        raise UserError(f"grep-reads: '{opts.query}' is not a window or sequence (A, C, G, T only)")
    for path in input_paths(DetectOptions(reads=opts.reads, output_dir=None, pairs=opts.pairs)):
        if path != "-" and not os.path.exists(path):
            raise UserError(f"{path}: cannot open: No such file or directory")
    germline = load_germline(opts.germline, opts.species, quiet=opts.quiet, systems=opts.systems)
    options: dict[str, Any] = {
        "pairs": [tuple(pair) for pair in opts.pairs],
        "rank": opts.rank,
        "contains": opts.contains,
        "gzip": opts.output.endswith(".gz"),
        "window": opts.window,
        "e_value": opts.e_value,
        "unexpected": opts.unexpected,
        "threads": opts.threads,
        "quiet": opts.quiet,
        "umi": opts.umi,
        "umi_spacer": opts.umi_spacer,
    }
    try:
        if opts.output == "-":
            sys.stdout.flush()
            counts = engine_grep_reads(germline, opts.query, list(opts.reads), "-", **options)
        else:
            target = Path(opts.output)
            if target.is_dir():
                raise UserError(f"{target}: is a folder, give a file name")
            with atomic_outputs() as outputs:
                counts = outputs.write_path(
                    target, lambda tmp: engine_grep_reads(germline, opts.query, list(opts.reads), tmp, **options)
                )
    except InputError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{opts.output}: cannot write: {exc.strerror or exc}") from None
    if not opts.quiet:
        print(f"vidjil: {counts[1]} of {counts[0]} reads match {opts.query} -> {opts.output}", file=sys.stderr)
    return counts
