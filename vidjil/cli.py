"""The `vidjil` command line."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import NoReturn

from . import __version__
from .errors import UserError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"vidjil: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def _count_or_all(text: str) -> int:
    return 1 << 31 if text == "all" else _positive_int(text)


def add_detect(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("detect", help="detect V(D)J recombinations and clones in reads")
    p.add_argument(
        "reads",
        nargs="*",
        help="FASTA/FASTQ files, plain or gzip, counted as one sample; '-' for stdin",
    )
    p.add_argument(
        "--r1",
        action="append",
        default=[],
        metavar="FILE",
        help="first mates of paired-end reads (with --r2; repeat both for several pairs of files)",
    )
    p.add_argument("--r2", action="append", default=[], metavar="FILE", help="second mates, in the order of --r1")
    p.add_argument(
        "--min-overlap",
        type=int,
        default=12,
        help="paired-end: fewest overlapping bases to merge two mates (default 12)",
    )
    p.add_argument(
        "--max-mismatch-rate",
        type=float,
        default=0.1,
        help="paired-end: most disagreeing bases per overlapping base (default 0.1)",
    )
    p.add_argument("-o", "--output-dir", type=Path, help="output directory (required unless --per-read)")
    p.add_argument("-b", "--name", help="output base name (default: first input's name)")
    p.add_argument("-g", "--germline", help="germline preset FILE.g[:SYS1,SYS2] (default: built-in set)")
    p.add_argument("--species", default="human", help="species of the built-in set (human, mouse)")
    p.add_argument(
        "--systems",
        help="systems of the germline set to use: 'all' (default), 'complete' (no incomplete '+' systems) "
        "or a comma list such as IGH,TRG",
    )
    p.add_argument("-w", "--window", type=int, default=50, help="window length in nt (default 50, 30..63)")
    p.add_argument("-e", "--e-value", type=float, default=1.0, help="maximal e-value of each side (default 1)")
    p.add_argument("--unexpected", action="store_true", help="also report V and J of two different loci")
    p.add_argument("-t", "--threads", type=_positive_int, default=0, help="threads (default: all cores)")
    p.add_argument("-r", "--min-reads", type=_positive_int, default=5, help="minimal reads of a clone (default 5)")
    p.add_argument("--max-clones", type=_positive_int, default=0, help="report at most N clones (default: all)")
    p.add_argument(
        "-z",
        "--designate",
        type=_count_or_all,
        default=100,
        help="representative sequence and V(D)J designation of the top N clones (default 100, or 'all')",
    )
    p.add_argument("--e-value-d", type=float, default=0.05, help="maximal e-value of a D gene alignment (default 0.05)")
    p.add_argument(
        "--several-d",
        action="store_true",
        help="look for a second D gene (VDDJ) in every system, not only in TRD, TRD+ and TRA+D",
    )
    p.add_argument(
        "--alternative-genes",
        type=_positive_int,
        default=0,
        help="also report the N next best V and J alleles (W69 lists ties anyway; default 0)",
    )
    p.add_argument(
        "--per-read",
        action="store_true",
        help="designate every read on its own and write one TSV line per read (read, system, "
        "designation, junction) to standard output, or to OUTPUT_DIR/NAME.reads.tsv with -o",
    )
    p.add_argument(
        "--merge-distance",
        type=int,
        choices=[0, 1, 2],
        default=1,
        help="merge windows this many substitutions from a much larger clone (default 1, 0 = off)",
    )
    p.add_argument(
        "--merge-ratio",
        type=float,
        default=20.0,
        help="merge only into clones with at least this many times more reads (default 20)",
    )
    p.add_argument(
        "--max-windows",
        type=int,
        default=1 << 20,
        help="distinct windows kept in memory; beyond, error variants are merged and the smallest "
        "windows dropped (default 1048576)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")


def add_germline(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("germline", help="germline sets")
    gsub = p.add_subparsers(dest="germline_command", required=True, parser_class=Parser)
    b = gsub.add_parser("build", help="write the default germline set from the pinned GenAIRR package")
    b.add_argument("--species", default="human", choices=["human", "mouse"])
    b.add_argument("-o", "--output-dir", required=True, type=Path)
    s = gsub.add_parser("show", help="systems, files and anchors of a preset")
    s.add_argument("germline", nargs="?", help="FILE.g[:SYSTEMS] (default: built-in human set)")


def add_demo(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser("demo", help="simulate a small seeded sample and detect its clones")
    p.add_argument("-o", "--output-dir", type=Path, default=Path("results/demo"))
    p.add_argument(
        "--followup-reads",
        action="store_true",
        help="only write the reads of the workflow's demo (a patient at diagnosis and two follow-ups)",
    )
    p.add_argument("-q", "--quiet", action="store_true")


def add_fuse_report_index(sub: argparse._SubParsersAction[Parser]) -> None:
    f = sub.add_parser("fuse", help="fuse the samples of a set: clones followed over time, MRD, diversity")
    f.add_argument("inputs", nargs="+", type=Path, help=".vidjil (plain or gzip) or AIRR TSV files, in sample order")
    f.add_argument("-o", "--output", required=True, type=Path, help="fused .vidjil file")
    f.add_argument("--top", type=_positive_int, default=50, help="follow clones in the top N of a sample (default 50)")
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
    r = sub.add_parser("report", help="HTML report of a fused set")
    r.add_argument("fused", type=Path, help="fused .vidjil file")
    r.add_argument("-o", "--output", required=True, type=Path, help="HTML file")
    r.add_argument("--title", help="page title (default: the file name)")
    i = sub.add_parser("index", help="the SQLite index of a results folder: runs, samples, clones")
    isub = i.add_subparsers(dest="index_command", required=True, parser_class=Parser)
    a = isub.add_parser("add", help="record a run (its description, then the index brought up to date)")
    a.add_argument("results", type=Path, help="results folder")
    a.add_argument("--run", required=True, help="run id")
    a.add_argument("--db", type=Path, help="database (default: RESULTS/index.sqlite)")
    a.add_argument("--samples", type=Path, help="the run's sample sheet (TSV)")
    a.add_argument("--sets", type=Path, help="the run's sets sheet (TSV)")
    a.add_argument("--info", action="append", default=[], metavar="KEY=VALUE", help="run metadata")
    rb = isub.add_parser("rebuild", help="rebuild the index from the results tree (no change: no write)")
    rb.add_argument("results", type=Path, help="results folder")
    rb.add_argument("--db", type=Path, help="database (default: RESULTS/index.sqlite)")
    default_db = Path("results/index.sqlite")
    se = isub.add_parser("search", help="samples where a clone was found, in every run")
    se.add_argument("--db", type=Path, default=default_db, help=f"database (default: {default_db})")
    se.add_argument("--junction-aa", help="junction in amino acids (CASS...)")
    se.add_argument("--junction", help="junction in nucleotides")
    se.add_argument("--v", help="V gene (IGHV3-23) or allele (IGHV3-23*01)")
    se.add_argument("--json", action="store_true", help="JSON instead of a table")
    li = isub.add_parser("list", help="runs, sets and samples")
    li.add_argument("--db", type=Path, default=default_db)
    li.add_argument("--json", action="store_true")
    sh = isub.add_parser("show", help="one sample set: samples, results, fused files")
    sh.add_argument("set", help="sample set name")
    sh.add_argument("--db", type=Path, default=default_db)
    vw = sub.add_parser("view", help="read-only viewer of a results folder in the browser")
    vw.add_argument("results", type=Path, help="results folder (with its index.sqlite)")
    vw.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    vw.add_argument("--port", type=int, default=8080)
    vw.add_argument("--token", help="require this token (header X-Vidjil-Token, or open ?token=T once)")
    vw.add_argument(
        "--token-file",
        type=Path,
        help="read the token from this file (first line): on a server, keeps it out of the process list",
    )
    vw.add_argument(
        "--proxy",
        action="store_true",
        help="behind a reverse proxy on this machine (nginx): trust its X-Forwarded-Proto/-Host/-For",
    )
    ex = sub.add_parser("export-set", help="a sample set with its samples, results and fused files (tar.gz)")
    ex.add_argument("set", help="sample set name")
    ex.add_argument("-o", "--output", required=True, type=Path, help="archive (.tar.gz)")
    ex.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    im = sub.add_parser("import-set", help="import a sample-set archive (checksums verified first)")
    im.add_argument("archive", type=Path)
    im.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    im.add_argument("--dry-run", action="store_true", help="say what would be written; change nothing")
    dr = sub.add_parser("doctor", help="check this installation: engine, germline, workflow tools, results, disk")
    dr.add_argument(
        "-g",
        "--germline",
        help="germline preset to check (default: the sets the workflow built beside RESULTS, "
        "in resources/germline/, else the built-in set)",
    )
    dr.add_argument("--species", default="human", help="species of the built-in set (human, mouse)")
    dr.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
    dr.add_argument(
        "--min-free-gb", type=float, default=10.0, help="fail below this free space for results (default 10 GB)"
    )
    bk = isub.add_parser("backup", help="online backup of the index, then an integrity check of the copy")
    bk.add_argument("dest", type=Path, help="backup file or folder")
    bk.add_argument("--db", type=Path, default=default_db)


def build_parser() -> Parser:
    parser = Parser(prog="vidjil", description="V(D)J recombination detection and clone follow-up")
    parser.add_argument("--version", action="store_true", help="print the version and the default germline id")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_detect(sub)
    add_germline(sub)
    add_demo(sub)
    add_fuse_report_index(sub)
    return parser


def cmd_detect(args: argparse.Namespace) -> int:
    from .detect import DetectOptions, run_detect, run_per_read

    if args.name is not None and not NAME_PATTERN.match(args.name):
        raise UserError(f"--name: '{args.name}' must be letters, digits and . _ + - only")
    if args.output_dir is None and not args.per_read:
        raise UserError("detect: -o/--output-dir is required (unless --per-read)")
    if len(args.r1) != len(args.r2):
        raise UserError(f"detect: {len(args.r1)} --r1 file(s) but {len(args.r2)} --r2 file(s): give them in pairs")
    if not args.reads and not args.r1:
        raise UserError("detect: no reads given (files, or --r1 and --r2)")
    options = DetectOptions(
        reads=args.reads,
        pairs=list(zip(args.r1, args.r2, strict=True)),
        min_overlap=args.min_overlap,
        max_mismatch_rate=args.max_mismatch_rate,
        output_dir=args.output_dir,
        name=args.name,
        germline=args.germline,
        species=args.species,
        systems=args.systems,
        window=args.window,
        e_value=args.e_value,
        unexpected=args.unexpected,
        threads=args.threads,
        min_reads=args.min_reads,
        max_clones=args.max_clones,
        designate=args.designate,
        e_value_d=args.e_value_d,
        several_d=args.several_d,
        alternative_genes=args.alternative_genes,
        merge_distance=args.merge_distance,
        merge_ratio=args.merge_ratio,
        max_windows=args.max_windows,
        quiet=args.quiet,
    )
    if args.per_read:
        run_per_read(options)
    else:
        run_detect(options)
    return 0


def cmd_germline(args: argparse.Namespace) -> int:
    import json

    from .germline import build_germline, germline_identity, load_germline

    if args.germline_command == "build":
        out: Path = args.output_dir
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out}: output directory exists and is not empty")
        manifest = build_germline(args.species, out)
        print(json.dumps({"id": manifest["id"], "alleles": manifest["alleles"]}, indent=2))
        return 0
    germline = load_germline(args.germline)
    doc = germline_identity(germline) | {
        "load_seconds": round(germline.load_seconds, 4),
        "systems": germline.systems(),
        "files": germline.files(),
        "anchors_not_found": germline.missing_anchors(),
    }
    print(json.dumps(doc, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
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


def cmd_fuse(args: argparse.Namespace) -> int:
    from .fuse import FuseOptions, run_fuse

    if args.spike_copies and not args.spike:
        raise UserError("--spike-copies needs --spike")
    options = FuseOptions(
        top=args.top, spike=args.spike.upper() if args.spike else None, spike_copies=args.spike_copies
    )
    fused = run_fuse(args.inputs, args.output, options, airr=args.airr, diversity=args.diversity)
    print(
        f"fuse: {fused['samples']['number']} samples, {len(fused['clones'])} clones -> {args.output}", file=sys.stderr
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import run_report

    run_report(args.fused, args.output, args.title)
    return 0


def _print_table(rows: list[dict[str, object]]) -> None:
    if not rows:
        print("(none)")
        return
    print("\t".join(rows[0]))
    for row in rows:
        print("\t".join("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()))


def cmd_index(args: argparse.Namespace) -> int:
    import json

    from . import index

    command = args.index_command
    if command in ("add", "rebuild"):
        db = args.db or args.results / "index.sqlite"
        if command == "add":
            info = {}
            for item in args.info:
                key, sep, value = item.partition("=")
                if not sep:
                    raise UserError(f"--info: '{item}' is not KEY=VALUE")
                info[key] = value
            counts = index.add_run(args.results, db, args.run, info, args.samples, args.sets)
        else:
            counts = index.rebuild(args.results, db)
        changed = "updated" if counts.pop("changed") else "unchanged"
        print(f"index: {db} {changed}: " + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    elif command == "search":
        hits = index.search(args.db, args.junction_aa, args.junction, args.v)
        print(json.dumps(hits, indent=1)) if args.json else _print_table(list(hits))
    elif command == "list":
        listing = index.listing(args.db)
        if args.json:
            print(json.dumps(listing, indent=1))
        for part, rows in listing.items() if not args.json else []:
            print(f"# {part}")
            _print_table(list(rows))
    elif command == "show":
        print(json.dumps(index.show_set(args.db, args.set), indent=1))
    elif command == "backup":
        done = index.backup(args.db, args.dest)
        print(f"index: backup {done['backup']} ({done['size']} bytes), integrity {done['integrity']}", file=sys.stderr)
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from webui import create_app

    if not (args.results / "index.sqlite").exists():
        raise UserError(f"{args.results}: no index.sqlite (run `vidjil index rebuild {args.results}`)")
    token = args.token
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            raise UserError(f"{args.token_file}: cannot read a token from it") from None
        if not token:
            raise UserError(f"{args.token_file}: the token is empty")
    app = create_app(args.results, token=token, behind_proxy=args.proxy)
    where = f"http://{args.host}:{args.port}/" + ("?token=..." if token else "")
    print(f"vidjil view: {args.results} on {where}", file=sys.stderr)
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor

    return doctor(args.germline, args.species, args.results, args.min_free_gb)


def cmd_export_set(args: argparse.Namespace) -> int:
    from .index import export_set

    manifest = export_set(args.results, args.results / "index.sqlite", args.set, args.output)
    print(f"export-set: {args.set}: {len(manifest['files'])} files -> {args.output}", file=sys.stderr)
    return 0


def cmd_import_set(args: argparse.Namespace) -> int:
    from .index import import_set

    done = import_set(args.archive, args.results, args.dry_run)
    verb = "would write" if done["dry_run"] else "wrote"
    print(
        f"import-set: {done['set']}: {verb} {len(done['write'])} files, {len(done['same'])} already there",
        file=sys.stderr,
    )
    for path in done["write"]:
        print(f"{'write' if not done['dry_run'] else 'would write'}\t{path}")
    return 0


def print_version() -> None:
    from .germline import genairr_version

    print(f"vidjil {__version__} (default germline: genairr-{genairr_version()})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.version:
            print_version()
            return 0
        if args.command == "detect":
            return cmd_detect(args)
        if args.command == "germline":
            return cmd_germline(args)
        if args.command == "demo":
            return cmd_demo(args)
        commands = {
            "fuse": cmd_fuse,
            "report": cmd_report,
            "index": cmd_index,
            "export-set": cmd_export_set,
            "view": cmd_view,
            "import-set": cmd_import_set,
            "doctor": cmd_doctor,
        }
        if args.command in commands:
            return commands[args.command](args)
        parser.print_help(sys.stderr)
        return 2
    except UserError as exc:
        print(f"vidjil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidjil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
