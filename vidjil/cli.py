"""The `vidjil` command line: one `add_*` function per command declares its
arguments and the function that runs it (`set_defaults(func=...)`)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__, layout
from .errors import UserError

NAME_CHARACTERS = "letters, digits and . _ + - only"
DEFAULT_RESULTS = Path("results")

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction["Parser"]


class Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"vidjil: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1], not {text}")
    return value


def _count_or_all(text: str) -> int:
    return 1 << 31 if text == "all" else _positive_int(text)


def _clones_or_all(text: str) -> int:
    value = _count_or_all(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a number of clones >= 1 or 'all', not {text}")
    return value


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"must be 'on' or 'off', not {text}")
    return text == "on"


# ---------------------------------------------------------------------- detect


@dataclass(frozen=True)
class EngineOption:
    """A `vidjil detect` flag that sets an engine parameter; its default is the
    engine's (`default_params()`), so it is written nowhere else."""

    key: str  # the engine's keyword (and ParamError.field)
    flags: tuple[str, ...]
    type: Any
    help: str
    dest: str | None = None  # DetectOptions field, when it differs from `key`

    @property
    def field(self) -> str:
        return self.dest or self.key


ENGINE_OPTIONS = [
    EngineOption("window", ("-w", "--window"), int, "window length in nt (30..63)"),
    EngineOption("e_value", ("-e", "--e-value"), float, "maximal e-value of each side"),
    EngineOption(
        "rescue",
        ("--rescue",),
        _on_off,
        "on|off: reads with only their V or only their J side found are looked up again at every position,"
        " their e-values multiplied by the 4 sampling phases tried",
    ),
    EngineOption("threads", ("-t", "--threads"), _positive_int, "threads (0: all cores)"),
    EngineOption("min_reads", ("-r", "--min-reads"), _positive_int, "minimal reads of a clone"),
    EngineOption("max_clones", ("--max-clones",), _positive_int, "report at most N clones (0: all)"),
    EngineOption(
        "designate",
        ("-z", "--designate"),
        _count_or_all,
        "representative sequence and V(D)J designation of the top N clones (or 'all')",
    ),
    EngineOption("e_value_d", ("--e-value-d",), float, "maximal e-value of a D gene alignment"),
    EngineOption(
        "alternatives",
        ("--alternative-genes",),
        _positive_int,
        "also report the N next best V and J alleles (W69 lists ties anyway)",
        dest="alternative_genes",
    ),
    EngineOption(
        "merge_distance",
        ("--merge-distance",),
        int,
        "merge windows this many substitutions (0..2) from a much larger clone (0 = off)",
    ),
    EngineOption("merge_ratio", ("--merge-ratio",), float, "merge only into clones with this many times more reads"),
    EngineOption(
        "max_windows",
        ("--max-windows",),
        int,
        "distinct windows kept in memory; beyond, error variants are merged and the smallest windows dropped",
    ),
    EngineOption("min_overlap", ("--min-overlap",), int, "paired-end: fewest overlapping bases to merge two mates"),
    EngineOption(
        "max_mismatch_rate",
        ("--max-mismatch-rate",),
        float,
        "paired-end: most disagreeing bases per overlapping base",
    ),
    EngineOption(
        "umi",
        ("--umi",),
        str,
        "count molecules: where the UMI is, 'name' (last _ field of the read name, UMI-tools), 'illumina' "
        "(8th : field of the name), 'r1:N' or 'r2:N' (first N bases of that mate, trimmed)",
    ),
    EngineOption("umi_spacer", ("--umi-spacer",), str, "with --umi r1:N/r2:N: bases checked and trimmed after the UMI"),
    EngineOption(
        "min_reads_per_umi", ("--min-reads-per-umi",), int, "with --umi: molecules seen in fewer reads are dropped"
    ),
    EngineOption(
        "max_umis",
        ("--max-umis",),
        int,
        "with --umi: (window, UMI) entries kept exactly (16 bytes each); beyond, the UMI tables of the smallest "
        "windows are evicted (counted in the stats)",
    ),
]


# Options that mean something with --umi only.
UMI_SUBOPTIONS = ("umi_spacer", "min_reads_per_umi", "max_umis")


def engine_defaults() -> dict[str, Any]:
    """The engine's defaults, for help texts; none when the engine does not import
    (so that `vidjil doctor` still runs and says why)."""
    try:
        from .vidjil_core import default_params
    except ImportError:
        return {}
    return dict(default_params())


def add_detect(commands: Commands) -> None:
    p = commands.add_parser("detect", help="detect V(D)J recombinations and clones in reads")
    p.add_argument("reads", nargs="*", help="FASTA/FASTQ files, plain or gzip, counted as one sample; '-' for stdin")
    p.add_argument(
        "--r1",
        action="append",
        default=[],
        metavar="FILE",
        help="first mates of paired-end reads (with --r2; repeat both for several pairs of files)",
    )
    p.add_argument("--r2", action="append", default=[], metavar="FILE", help="second mates, in the order of --r1")
    p.add_argument("-o", "--output-dir", type=Path, help="output directory (required unless --per-read)")
    p.add_argument("-b", "--name", help="output base name (default: first input's name)")
    p.add_argument("-g", "--germline", help="germline preset FILE.g[:SYS1,SYS2] (default: built-in set)")
    p.add_argument("--species", default="human", help="species of the built-in set (human, mouse)")
    p.add_argument(
        "--systems",
        help="systems of the germline set to use: 'all' (default), 'complete' (no incomplete '+' systems) "
        "or a comma list such as IGH,TRG",
    )
    p.add_argument("--unexpected", action="store_true", help="also report V and J of two different loci")
    p.add_argument(
        "--several-d",
        action="store_true",
        help="look for a second D gene (VDDJ) in every system, not only in TRD, TRD+ and TRA+D",
    )
    p.add_argument(
        "--per-read",
        action="store_true",
        help="designate every read on its own and write one TSV line per read (read, system, "
        "designation, junction; with --umi, its UMI) to standard output, or to OUTPUT_DIR/NAME.reads.tsv with -o",
    )
    p.add_argument(
        "--clone-reads",
        type=_clones_or_all,
        metavar="N|all",
        help="also write NAME.clone-reads.fa.gz: every read of the top N clones (or all clones), "
        "in input order (a second pass over the input: not for standard input); with --umi, one consensus "
        "read per molecule",
    )
    p.add_argument(
        "--run-id",
        metavar="ID",
        help="the sequencing run's id, written in the `run` column of NAME.clones.parquet (default: none)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    defaults = engine_defaults()
    for option in ENGINE_OPTIONS:
        default = defaults.get(option.key)
        if isinstance(default, bool):
            default = "on" if default else "off"
        shown = f" (default {default})" if default is not None else ""
        p.add_argument(*option.flags, dest=option.field, type=option.type, help=option.help + shown)
    p.set_defaults(func=run_detect_command)


def detect_options(args: argparse.Namespace) -> Any:
    from .detect import DetectOptions

    if args.name is not None and not layout.is_valid_name(args.name):
        raise UserError(f"--name: '{args.name}' must be {NAME_CHARACTERS}")
    if args.output_dir is None and not args.per_read:
        raise UserError("detect: -o/--output-dir is required (unless --per-read)")
    if len(args.r1) != len(args.r2):
        raise UserError(f"detect: {len(args.r1)} --r1 file(s) but {len(args.r2)} --r2 file(s): give them in pairs")
    if not args.reads and not args.r1:
        raise UserError("detect: no reads given (files, or --r1 and --r2)")
    if args.clone_reads is not None and args.per_read:
        raise UserError("detect: --clone-reads writes the reads of clones: not with --per-read")
    per_clone = ("--min-reads-per-umi", "--max-umis")
    per_clone_given = [
        o.flags[0] for o in ENGINE_OPTIONS if o.flags[0] in per_clone and getattr(args, o.field) is not None
    ]
    if args.per_read and per_clone_given:
        raise UserError(f"detect: {per_clone_given[0]} counts the molecules of clones: not with --per-read")
    umi_only = [o.flags[0] for o in ENGINE_OPTIONS if o.key in UMI_SUBOPTIONS and getattr(args, o.field) is not None]
    if args.umi is None and umi_only:
        raise UserError(f"detect: {umi_only[0]} needs --umi")
    if args.umi is not None and args.umi.startswith("r2:") and args.reads:
        raise UserError(
            f"--umi {args.umi}: {args.reads[0]} is single-end, it has no second mate (give paired-end --r1/--r2)"
        )
    given = {o.field: getattr(args, o.field) for o in ENGINE_OPTIONS if getattr(args, o.field) is not None}
    return DetectOptions(
        reads=args.reads,
        pairs=list(zip(args.r1, args.r2, strict=True)),
        output_dir=args.output_dir,
        name=args.name,
        germline=args.germline,
        species=args.species,
        systems=args.systems,
        unexpected=args.unexpected,
        several_d=args.several_d,
        quiet=args.quiet,
        clone_reads=args.clone_reads,
        run_id=args.run_id,
        **given,
    )


def flag_of(key: str) -> str:
    """The flag that sets engine parameter `key` (for the engine's ParamError)."""
    for option in ENGINE_OPTIONS:
        if option.key == key:
            return "/".join(option.flags)
    return key


def run_detect_command(args: argparse.Namespace) -> int:
    from .detect import run_detect, run_per_read
    from .vidjil_core import ParamError

    options = detect_options(args)
    try:
        if args.per_read:
            run_per_read(options)
        else:
            run_detect(options)
    except ParamError as exc:
        raise UserError(f"{flag_of(exc.field)} must be {exc.bound}") from None
    return 0


def add_grep_reads(commands: Commands) -> None:
    p = commands.add_parser(
        "grep-reads",
        help="the reads of a clone: reads whose detected window is WINDOW, or that contain SEQUENCE (either strand)",
    )
    p.add_argument(
        "query",
        metavar="WINDOW_OR_SEQUENCE",
        help="a clone's window (its id: 30..63 nt, matched against each read's detected window) "
        "or another DNA sequence (matched in the reads, either strand)",
    )
    p.add_argument("reads", nargs="*", help="FASTA/FASTQ files, plain or gzip; '-' for stdin")
    p.add_argument("--r1", action="append", default=[], metavar="FILE", help="first mates of paired-end reads")
    p.add_argument("--r2", action="append", default=[], metavar="FILE", help="second mates, in the order of --r1")
    p.add_argument(
        "-o", "--output", required=True, help="FASTA file to write (gzip when it ends in .gz; '-': standard output)"
    )
    p.add_argument(
        "--contains",
        action="store_true",
        help="match a query of a window's length in the reads (either strand), not as their detected window",
    )
    p.add_argument("--rank", type=_positive_int, default=0, help="clone=RANK of the headers (default 0: no rank)")
    p.add_argument("-g", "--germline", help="germline preset FILE.g[:SYS1,SYS2] (default: built-in set)")
    p.add_argument("--species", default="human", help="species of the built-in set (human, mouse)")
    p.add_argument("--systems", help="systems of the germline set: 'all' (default), 'complete' or a comma list")
    p.add_argument("-w", "--window", type=int, help="window length of the detection (as given to detect)")
    p.add_argument("-e", "--e-value", type=float, help="maximal e-value of each side (as given to detect)")
    p.add_argument("--unexpected", action="store_true", help="as given to detect")
    p.add_argument("-t", "--threads", type=_positive_int, help="threads (0: all cores)")
    p.add_argument(
        "--umi",
        help="where the reads' UMI is, as given to detect (name, illumina, r1:N, r2:N): its bases trimmed, "
        "the UMI written in each header (umi=UMI), reads without one left out",
    )
    p.add_argument("--umi-spacer", help="with --umi r1:N/r2:N: bases checked and trimmed after the UMI")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run_grep_reads_command)


def run_grep_reads_command(args: argparse.Namespace) -> int:
    from .detect import GrepOptions, run_grep_reads
    from .vidjil_core import ParamError

    if len(args.r1) != len(args.r2):
        raise UserError(f"grep-reads: {len(args.r1)} --r1 file(s) but {len(args.r2)} --r2 file(s): give them in pairs")
    if not args.reads and not args.r1:
        raise UserError("grep-reads: no reads given (files, or --r1 and --r2)")
    options = GrepOptions(
        query=args.query,
        reads=args.reads,
        output=args.output,
        pairs=list(zip(args.r1, args.r2, strict=True)),
        rank=args.rank,
        contains=args.contains,
        germline=args.germline,
        species=args.species,
        systems=args.systems,
        window=args.window,
        e_value=args.e_value,
        unexpected=args.unexpected,
        threads=args.threads,
        quiet=args.quiet,
        umi=args.umi,
        umi_spacer=args.umi_spacer,
    )
    if args.umi_spacer is not None and args.umi is None:
        raise UserError("grep-reads: --umi-spacer needs --umi")
    try:
        run_grep_reads(options)
    except ParamError as exc:
        raise UserError(f"{flag_of(exc.field)} must be {exc.bound}") from None
    return 0


# -------------------------------------------------------------- germline, demo


def add_germline(commands: Commands) -> None:
    p = commands.add_parser("germline", help="germline sets")
    germline_commands = p.add_subparsers(dest="germline_command", required=True, parser_class=Parser)
    b = germline_commands.add_parser("build", help="write the default germline set from the pinned GenAIRR package")
    b.add_argument("--species", default="human", choices=["human", "mouse"])
    b.add_argument("-o", "--output-dir", required=True, type=Path)
    b.set_defaults(func=run_germline_build)
    s = germline_commands.add_parser("show", help="systems, files and anchors of a preset")
    s.add_argument("germline", nargs="?", help="FILE.g[:SYSTEMS] (default: built-in human set)")
    s.set_defaults(func=run_germline_show)


def run_germline_build(args: argparse.Namespace) -> int:
    from .germline import build_germline

    out: Path = args.output_dir
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out}: output directory exists and is not empty")
    manifest = build_germline(args.species, out)
    print(json.dumps({"id": manifest["id"], "alleles": manifest["alleles"]}, indent=2))
    return 0


def run_germline_show(args: argparse.Namespace) -> int:
    from .germline import germline_identity, load_germline

    germline = load_germline(args.germline)
    doc = germline_identity(germline) | {
        "load_seconds": round(germline.load_seconds, 4),
        "systems": germline.systems(),
        "files": germline.files(),
        "anchors_not_found": germline.missing_anchors(),
    }
    print(json.dumps(doc, indent=2))
    return 0


def add_demo(commands: Commands) -> None:
    p = commands.add_parser("demo", help="simulate a small seeded sample and detect its clones")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("results/demo"))
    p.add_argument(
        "--followup-reads",
        action="store_true",
        help="only write the reads of the workflow's demo (a patient at diagnosis and four follow-ups)",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from .demo import make_demo_reads, make_followup_reads
    from .detect import DetectOptions, run_detect

    out: Path = args.output_dir
    if args.followup_reads:
        for path in make_followup_reads(out):
            if not args.quiet:
                print(f"demo: {path}")
        return 0
    reads = make_demo_reads(out / "reads")
    stats = run_detect(DetectOptions(reads=[str(reads)], output_dir=out, name="demo", quiet=args.quiet))
    print(
        f"demo: {stats['reads']['detected']} of {stats['reads']['total']} reads detected, "
        f"{stats['clones']['reported']} clones; results in {out}/demo.vidjil, demo.airr.tsv, demo.stats.json"
    )
    return 0


# ---------------------------------------------------------------- fuse, report


def add_fuse(commands: Commands) -> None:
    from .fuse import FuseOptions
    from .mrd import MARKER_FRACTION

    top = FuseOptions().top
    f = commands.add_parser("fuse", help="fuse the samples of a set: clones followed over time, MRD, diversity")
    f.add_argument("inputs", nargs="+", type=Path, help=".vidjil (plain or gzip) or AIRR TSV files, in sample order")
    f.add_argument("-o", "--output", required=True, type=Path, help="fused .vidjil file")
    f.add_argument(
        "--top", type=_positive_int, default=top, help=f"follow clones in the top N of a sample (default {top})"
    )
    f.add_argument("--airr", type=Path, help="also write the followed clones as AIRR TSV (repertoire_id per sample)")
    f.add_argument("--diversity", type=Path, help="also write diversity and overlap indices as TSV")
    f.add_argument("--spike", help="sequence (or window) of a spike-in clone present in every sample")
    f.add_argument(
        "--spike-copies",
        type=float,
        nargs="+",
        default=[],
        help="copies of the spike-in put in each sample (one value, or one per sample): clones get "
        "spike-normalised copies",
    )
    f.add_argument(
        "--samples-sheet",
        type=Path,
        help="sample sheet (TSV: sample, date YYYY-MM-DD, info, ...; rows matched to the inputs by sample name): "
        "the fused file gets the samples' names, dates and info",
    )
    f.add_argument("--set-name", help="name of the set (recorded with --set-type, --set-info, --analysis)")
    f.add_argument("--set-type", help="type of the set (patient, run, generic)")
    f.add_argument("--set-info", help="free text about the set")
    f.add_argument("--analysis", help="name of the analysis the samples went through")
    mrd = f.add_argument_group("MRD (see the README: detection, quantification and status)")
    mrd.add_argument("--diagnosis", help="sample the markers are chosen at (default: the first)")
    mrd.add_argument(
        "--marker",
        action="append",
        default=[],
        metavar="SEQ",
        help="a marker clone by window or junction (nucleotides, optionally LOCUS:SEQ); repeat for several "
        "(default: the clones of --marker-fraction of their locus at diagnosis)",
    )
    mrd.add_argument(
        "--marker-fraction",
        type=_fraction,
        default=MARKER_FRACTION,
        help=f"a marker candidate has this fraction of its locus at diagnosis (default {MARKER_FRACTION:g})",
    )
    mrd.add_argument(
        "--new-clone-fraction",
        type=_fraction,
        default=MARKER_FRACTION,
        help=f"alert W93 on a clone of this fraction of its locus absent at diagnosis (default {MARKER_FRACTION:g})",
    )
    mrd.add_argument(
        "--index",
        type=Path,
        help="index of earlier runs (index.sqlite): flags markers found in other patients' samples",
    )
    mrd.add_argument(
        "--patient",
        action="append",
        default=[],
        help="the patient set(s) of these samples (default: --set-name when --set-type is patient)",
    )
    mrd.add_argument(
        "--mrd-tsv", type=Path, help="also write the MRD table (sample, marker, reads or molecules, LoD, LoQ, status)"
    )
    mrd.add_argument("--markers-tsv", type=Path, help="also write the marker candidates and their flags")
    mrd.add_argument("--alerts-tsv", type=Path, help="also write the follow-up alerts (sample, clone, code, message)")
    f.set_defaults(func=run_fuse_command)


def run_fuse_command(args: argparse.Namespace) -> int:
    from .fuse import FuseOptions, SetInfo, read_sample_sheet, run_fuse

    if args.spike_copies and not args.spike:
        raise UserError("--spike-copies needs --spike")
    set_values = {"name": args.set_name, "type": args.set_type, "info": args.set_info, "analysis": args.analysis}
    patients = args.patient or ([args.set_name] if args.set_name and args.set_type == "patient" else [])
    options = FuseOptions(
        top=args.top,
        spike=args.spike.upper() if args.spike else None,
        spike_copies=args.spike_copies,
        sample_sheet=read_sample_sheet(args.samples_sheet) if args.samples_sheet else None,
        sample_set=SetInfo(**{k: v or "" for k, v in set_values.items()}) if any(set_values.values()) else None,
        diagnosis=args.diagnosis,
        markers=[m for value in args.marker for m in value.split(";") if m.strip()],
        marker_fraction=args.marker_fraction,
        new_clone_fraction=args.new_clone_fraction,
        index=args.index,
        patients=patients,
    )
    tables = {"mrd": args.mrd_tsv, "markers": args.markers_tsv, "alerts": args.alerts_tsv}
    tables = {kind: path for kind, path in tables.items() if path is not None}
    fused = run_fuse(args.inputs, args.output, options, airr=args.airr, diversity=args.diversity, tables=tables)
    mrd = fused["_mrd"]
    print(
        f"fuse: {fused['samples']['number']} samples, {len(fused['clones'])} clones, {len(mrd['markers'])} markers,"
        f" {len(mrd['alerts'])} alerts -> {args.output}",
        file=sys.stderr,
    )
    if args.index is not None and not Path(mrd["index"]).exists():
        print(f"fuse: earlier runs not searched for the markers: {mrd['index']}", file=sys.stderr)
    return 0


def add_contamination(commands: Commands) -> None:
    from .contamination import CONTAMINATION_FRACTION

    c = commands.add_parser(
        "contamination",
        help="a sequencing run's clones found in samples of other patients (this run and earlier indexed runs)",
    )
    c.add_argument("inputs", nargs="+", type=Path, help="the run's samples (.vidjil or AIRR TSV)")
    c.add_argument("-o", "--output", required=True, type=Path, help="contamination table (TSV)")
    c.add_argument("--samples-sheet", type=Path, help="sample sheet: its `sets` column gives each sample's patient")
    c.add_argument("--sets-sheet", type=Path, help="sets sheet: the sets of type `patient`")
    c.add_argument("--index", type=Path, help="index of earlier runs (index.sqlite)")
    c.add_argument(
        "--min-fraction",
        type=_fraction,
        default=CONTAMINATION_FRACTION,
        help=f"look for the clones of this fraction of their locus (default {CONTAMINATION_FRACTION:g})",
    )
    c.set_defaults(func=run_contamination_command)


def run_contamination_command(args: argparse.Namespace) -> int:
    from .contamination import patients_from_sheets, run_contamination

    if (args.samples_sheet is None) != (args.sets_sheet is None):
        raise UserError("--samples-sheet and --sets-sheet go together (without them, each sample is its own patient)")
    patients = patients_from_sheets(args.samples_sheet, args.sets_sheet) if args.samples_sheet else {}
    rows = run_contamination(args.inputs, args.output, patients, args.index, args.min_fraction)
    shared = len({(r["sample"], r["clone"]) for r in rows})
    print(f"contamination: {shared} clones found in other patients' samples -> {args.output}", file=sys.stderr)
    return 0


def add_report(commands: Commands) -> None:
    r = commands.add_parser("report", help="HTML report of a fused set")
    r.add_argument("fused", type=Path, help="fused .vidjil file")
    r.add_argument("-o", "--output", required=True, type=Path, help="HTML file")
    r.add_argument("--title", help="page title (default: the set and its analysis, else the file name)")
    r.add_argument(
        "--contamination",
        type=Path,
        metavar="TSV",
        help="a run's contamination table (`vidjil contamination`): shown in a Contamination section",
    )
    r.set_defaults(func=run_report_command)


def run_report_command(args: argparse.Namespace) -> int:
    from .report import run_report

    run_report(args.fused, args.output, args.title, args.contamination)
    return 0


# ----------------------------------------------------------------------- index


def add_index(commands: Commands) -> None:
    i = commands.add_parser("index", help="the SQLite index of a results folder: runs, samples, clones")
    index_commands = i.add_subparsers(dest="index_command", required=True, parser_class=Parser)
    default_db = DEFAULT_RESULTS / layout.INDEX
    results_db = f"database (default: RESULTS/{layout.INDEX})"
    a = index_commands.add_parser("add", help="record a run (its description, then the index brought up to date)")
    a.add_argument("results", type=Path, help="results folder")
    a.add_argument("--run", required=True, help="run id")
    a.add_argument("--db", type=Path, help=results_db)
    a.add_argument("--samples", type=Path, help="the run's sample sheet (TSV)")
    a.add_argument("--sets", type=Path, help="the run's sets sheet (TSV)")
    a.add_argument("--info", action="append", default=[], metavar="KEY=VALUE", help="run metadata")
    a.set_defaults(func=run_index_add)
    rb = index_commands.add_parser("rebuild", help="rebuild the index from the results tree (no change: no write)")
    rb.add_argument("results", type=Path, help="results folder")
    rb.add_argument("--db", type=Path, help=results_db)
    rb.set_defaults(func=run_index_rebuild)
    se = index_commands.add_parser("search", help="samples where a clone was found, in every run")
    se.add_argument("--db", type=Path, default=default_db, help=f"database (default: {default_db})")
    se.add_argument("--junction-aa", help="junction in amino acids (CASS...)")
    se.add_argument("--junction", help="junction in nucleotides")
    se.add_argument("--v", help="V gene (IGHV3-23) or allele (IGHV3-23*01)")
    se.add_argument("--json", action="store_true", help="JSON instead of a table")
    se.add_argument("--group", help=GROUP_HELP)
    se.set_defaults(func=run_index_search)
    li = index_commands.add_parser("list", help="runs, sets (with their group) and samples")
    li.add_argument("--db", type=Path, default=default_db)
    li.add_argument("--json", action="store_true")
    li.add_argument("--group", help=GROUP_HELP)
    li.set_defaults(func=run_index_list)
    sh = index_commands.add_parser("show", help="one sample set: samples, results, fused files")
    sh.add_argument("set", help="sample set name")
    sh.add_argument("--db", type=Path, default=default_db)
    sh.add_argument("--group", help=GROUP_HELP)
    sh.set_defaults(func=run_index_show)
    bk = index_commands.add_parser("backup", help="online backup of the index, then an integrity check of the copy")
    bk.add_argument("dest", type=Path, help="backup file or folder")
    bk.add_argument("--db", type=Path, default=default_db)
    bk.set_defaults(func=run_index_backup)


GROUP_HELP = "only what a token of this group sees (docs/admin.md: a run set mixing groups is not in it)"


def _scope(db: Path, group: str | None) -> Any:
    """What `group` may see in the index (None: everything)."""
    from .groups import check_name, scope
    from .index import open_reader

    if group is None:
        return None
    check_name(group, "--group")
    con = open_reader(db)
    try:
        return scope(con, [group])
    finally:
        con.close()


def add_cohort(commands: Commands) -> None:
    c = commands.add_parser(
        "cohort",
        help="the Parquet dataset of a results folder (RESULTS/cohort: clones and MRD rows, by analysis and run)",
    )
    c.add_argument("results", type=Path, help="results folder (its index is read)")
    c.add_argument("--db", type=Path, help=f"index (default: RESULTS/{layout.INDEX})")
    c.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    c.set_defaults(func=run_cohort_command)


def run_cohort_command(args: argparse.Namespace) -> int:
    from .cohort import run_cohort

    with _reading_index(args.db or layout.index_db(args.results)):
        run_cohort(args.results, args.db, args.quiet)
    return 0


@contextlib.contextmanager
def _reading_index(db: Path) -> Iterator[None]:
    """A damaged index is one line naming it, not a traceback."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{db}: the index cannot be read ({exc}): run `vidjil index rebuild`") from None


def _print_table(rows: list[dict[str, object]]) -> None:
    if not rows:
        print("(none)")
        return
    print("\t".join(rows[0]))
    for row in rows:
        print("\t".join("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()))


def _print_counts(db: Path, counts: dict[str, Any]) -> None:
    changed = "updated" if counts.pop("changed") else "unchanged"
    print(f"index: {db} {changed}: " + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)


def run_index_add(args: argparse.Namespace) -> int:
    from .index import add_run

    info = {}
    for item in args.info:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--info: '{item}' is not KEY=VALUE")
        info[key] = value
    db = args.db or layout.index_db(args.results)
    _print_counts(db, add_run(args.results, db, args.run, info, args.samples, args.sets))
    return 0


def run_index_rebuild(args: argparse.Namespace) -> int:
    from .index import rebuild

    db = args.db or layout.index_db(args.results)
    _print_counts(db, rebuild(args.results, db))
    return 0


def run_index_search(args: argparse.Namespace) -> int:
    from .index import search

    with _reading_index(args.db):
        hits = search(args.db, args.junction_aa, args.junction, args.v)
        seen = _scope(args.db, args.group)
    if seen is not None:
        hits = seen.hits(hits)
    if args.json:
        print(json.dumps(hits, indent=1))
    else:
        _print_table(list(hits))
    return 0


def run_index_list(args: argparse.Namespace) -> int:
    from .groups import groups_by_set
    from .index import listing

    with _reading_index(args.db):
        tables = listing(args.db)
        by_set = groups_by_set(args.db)
        seen = _scope(args.db, args.group)
    for row in tables["sets"]:
        row["group"] = by_set.get(row["name"])
    if seen is not None:
        tables = seen.listing(tables)
    if args.json:
        print(json.dumps(tables, indent=1))
        return 0
    for part, rows in tables.items():
        print(f"# {part}")
        _print_table(list(rows))
    return 0


def run_index_show(args: argparse.Namespace) -> int:
    from .groups import groups_by_set
    from .index import show_set

    with _reading_index(args.db):
        seen = _scope(args.db, args.group)
        if seen is not None and not seen.sees_set(args.set):
            raise UserError(f"{args.db}: no sample set '{args.set}' that group '{args.group}' sees")
        shown = show_set(args.db, args.set)
        shown["set"]["group"] = groups_by_set(args.db).get(args.set)
    print(json.dumps(shown, indent=1))
    return 0


def run_index_backup(args: argparse.Namespace) -> int:
    from .index import backup

    done = backup(args.db, args.dest)
    print(f"index: backup {done['backup']} ({done['size']} bytes), integrity {done['integrity']}", file=sys.stderr)
    return 0


# ------------------------------------------------------------- view, sets, doctor


def add_view(commands: Commands) -> None:
    vw = commands.add_parser("view", help="read-only viewer of a results folder, or of .vidjil files, in the browser")
    vw.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="RESULTS|FILE.vidjil",
        help=f"a results folder (with its {layout.INDEX}), or .vidjil files (ours or the reference tool's; "
        "plain or gzip) opened as they are",
    )
    vw.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    vw.add_argument("--port", type=int, default=8080)
    vw.add_argument("--token", help="require this token (header X-Vidjil-Token, or open ?token=T once)")
    vw.add_argument(
        "--token-file",
        type=Path,
        help="read the token from this file (first line): on a server, keeps it out of the process list",
    )
    vw.add_argument(
        "--tokens-file",
        type=Path,
        help="team tokens (`vidjil token new`): each request sees the groups of its token; read again when it changes",
    )
    vw.add_argument(
        "--access-log",
        type=Path,
        help="append one line per request to this file (time, token name, route, status, sets and samples shown)",
    )
    vw.add_argument(
        "--proxy",
        action="store_true",
        help="behind a reverse proxy on this machine (nginx): trust its X-Forwarded-Proto/-Host/-For",
    )
    vw.set_defaults(func=run_view)


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file is None:
        token: str | None = args.token
        if token is not None and not token.strip():  # e.g. --token "$(cat missing-file)"
            raise UserError("--token: the token is empty")
        return token
    try:
        token = args.token_file.read_text().splitlines()[0].strip()
    except (OSError, IndexError):
        raise UserError(f"{args.token_file}: cannot read a token from it") from None
    if not token:
        raise UserError(f"{args.token_file}: the token is empty")
    return token


def run_view(args: argparse.Namespace) -> int:
    from webui import create_app

    paths: list[Path] = args.paths
    folders = [p for p in paths if p.is_dir()]
    if folders and len(paths) > 1:
        raise UserError(f"{folders[0]}: a results folder is viewed alone (or give .vidjil files, not folders)")
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
    token = _token(args)
    if args.tokens_file is not None and not folders:
        raise UserError("--tokens-file: groups are those of an index: give a results folder")
    if folders:
        results = folders[0]
        if not layout.index_db(results).exists():
            raise UserError(f"{results}: no {layout.INDEX} (run `vidjil index rebuild {results}`)")
        app = create_app(
            results, token=token, behind_proxy=args.proxy, tokens_file=args.tokens_file, access_log=args.access_log
        )
        what = str(results)
    else:  # every file is read and checked now: one that is not a .vidjil document stops here
        app = create_app(files=paths, token=token, behind_proxy=args.proxy, access_log=args.access_log)
        count = len(app.config["FILES"].items)
        what = f"{count} .vidjil file{'' if count == 1 else 's'}"
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a server stops on SIGTERM as any daemon
    where = f"http://{args.host}:{args.port}/" + ("?token=..." if token or args.tokens_file else "")
    print(f"vidjil view: {what} on {where}", file=sys.stderr)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def add_export_set(commands: Commands) -> None:
    ex = commands.add_parser(
        "export-set", help="sample sets (or all the sets of a group) with their samples, results and fused files"
    )
    ex.add_argument("sets", nargs="*", metavar="SET", help="sample set names")
    ex.add_argument("--group", help="every set of this group (with the sets named, if any)")
    ex.add_argument("-o", "--output", required=True, type=Path, help="archive (.tar.gz)")
    ex.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    ex.set_defaults(func=run_export_set)


def run_export_set(args: argparse.Namespace) -> int:
    from .groups import check_name, sets_of_group
    from .index import open_reader
    from .sets_archive import export_sets

    db = layout.index_db(args.results)
    names = list(args.sets)
    if args.group is not None:
        check_name(args.group, "--group")
        con = open_reader(db)
        try:
            of_group = sets_of_group(con, args.group)
        finally:
            con.close()
        if not of_group:
            raise UserError(f"{db}: no sample set in group '{args.group}'")
        names += of_group
    manifest = export_sets(args.results, db, list(dict.fromkeys(names)), args.output)
    shown = ", ".join(manifest["sets"])
    print(f"export-set: {shown}: {len(manifest['files'])} files -> {args.output}", file=sys.stderr)
    return 0


def add_import_set(commands: Commands) -> None:
    im = commands.add_parser("import-set", help="import a sample-set archive (checksums verified first)")
    im.add_argument("archive", type=Path)
    im.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    im.add_argument("--dry-run", action="store_true", help="say what would be written; change nothing")
    im.add_argument("--group", help="put the imported sets into this group (default: their group in the archive)")
    im.set_defaults(func=run_import_set)


def run_import_set(args: argparse.Namespace) -> int:
    from .sets_archive import import_set

    done = import_set(args.archive, args.results, args.dry_run, args.group)
    verb = "would write" if done["dry_run"] else "wrote"
    merged = f", {len(done['merge'])} run descriptions merged" if done["merge"] else ""
    print(
        f"import-set: {', '.join(done['sets'])}: {verb} {len(done['write'])} files, {len(done['same'])} already there"
        + merged,
        file=sys.stderr,
    )
    if done.get("cohort"):
        parts = done["cohort"]
        print(
            f"import-set: cohort dataset: {parts['written']} partitions written, {parts['unchanged']} unchanged",
            file=sys.stderr,
        )
    for path in done["write"]:
        print(f"{'write' if not done['dry_run'] else 'would write'}\t{path}")
    for name, group in done["groups"].items():
        if group is not None:
            print(f"{'group' if not done['dry_run'] else 'would group'}\t{name}\t{group}")
    return 0


# ----------------------------------------------------------------------- token


def add_token(commands: Commands) -> None:
    t = commands.add_parser("token", help="the viewer's team tokens: new, list, revoke")
    token_commands = t.add_subparsers(dest="token_command", required=True, parser_class=Parser)
    file_help = "the tokens file (JSON, mode 0600; made by the first `token new`)"
    n = token_commands.add_parser("new", help="a new token (printed once; only its SHA-256 is kept)")
    n.add_argument("name", help=f"who it is for, unique ({NAME_CHARACTERS}): the access log names it")
    n.add_argument("--groups", required=True, help="groups it sees, comma-separated ('*': all)")
    n.add_argument("--anonymous", action="store_true", help="names shown as pseudonyms, no info fields")
    n.add_argument("--tokens-file", required=True, type=Path, help=file_help)
    n.set_defaults(func=run_token_new)
    li = token_commands.add_parser("list", help="the tokens: name, groups, anonymous, created, revoked")
    li.add_argument("--tokens-file", required=True, type=Path, help=file_help)
    li.set_defaults(func=run_token_list)
    rv = token_commands.add_parser("revoke", help="revoke a token (a running viewer refuses it at once)")
    rv.add_argument("name")
    rv.add_argument("--tokens-file", required=True, type=Path, help=file_help)
    rv.set_defaults(func=run_token_revoke)


def run_token_new(args: argparse.Namespace) -> int:
    from .tokens import new_token

    token = new_token(args.tokens_file, args.name, args.groups, args.anonymous)
    print(f"token: '{args.name}' added to {args.tokens_file} (shown once: give it to its team)", file=sys.stderr)
    print(token)
    return 0


def run_token_list(args: argparse.Namespace) -> int:
    from .tokens import load

    tokens = load(args.tokens_file).tokens
    _print_table(
        [
            {
                "name": t.name,
                "groups": ",".join(t.groups),
                "anonymous": "yes" if t.anonymous else "no",
                "created": t.created,
                "revoked": t.revoked or "",
            }
            for t in tokens
        ]
    )
    return 0


def run_token_revoke(args: argparse.Namespace) -> int:
    from .tokens import revoke

    token = revoke(args.tokens_file, args.name)
    already = f" (already since {token.revoked})" if token.revoked else ""
    print(f"token: '{args.name}' revoked{already}", file=sys.stderr)
    return 0


def add_doctor(commands: Commands) -> None:
    dr = commands.add_parser("doctor", help="check this installation: engine, germline, workflow tools, results, disk")
    dr.add_argument(
        "-g",
        "--germline",
        help="germline preset to check (default: the sets the workflow built beside RESULTS, "
        f"in {layout.BUILT_GERMLINES}/, else the built-in set)",
    )
    dr.add_argument("--species", default="human", help="species of the built-in set (human, mouse)")
    dr.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: results)")
    dr.add_argument(
        "--min-free-gb", type=float, default=10.0, help="fail below this free space for results (default 10 GB)"
    )
    dr.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(args.germline, args.species, args.results, args.min_free_gb)


# ------------------------------------------------------------------------ main


def build_parser() -> Parser:
    parser = Parser(prog="vidjil", description="V(D)J recombination detection and clone follow-up")
    parser.add_argument("--version", action="store_true", help="print the version and the default germline id")
    commands = parser.add_subparsers(dest="command", parser_class=Parser)
    for add in (
        add_detect,
        add_grep_reads,
        add_germline,
        add_demo,
        add_fuse,
        add_contamination,
        add_report,
        add_index,
        add_cohort,
        add_view,
        add_export_set,
        add_import_set,
        add_token,
        add_doctor,
    ):
        add(commands)
    return parser


class Terminated(BaseException):
    """SIGTERM (a job scheduler's cancel or time limit): the run stops as for Ctrl-C."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def print_version() -> None:
    from .germline import genairr_version

    print(f"vidjil {__version__} (default germline: genairr-{genairr_version()})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # The engine looks at pending signals between batches: both stop a run within
    # a fraction of a second, leaving no output (outputs are written atomically).
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.version:
            print_version()
            return 0
        if not hasattr(args, "func"):
            parser.print_help(sys.stderr)
            return 2
        status: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except UserError as exc:
        print(f"vidjil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidjil: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print("vidjil: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:  # `vidjil index show ... | head`: the reader is gone, as for SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
