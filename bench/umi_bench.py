"""Cost and accuracy of `vidjil detect --umi` (issue 21; a script, not a test).

Makes once (seeded) a multi-locus sample of molecules tagged with 12-nt UMIs (read
names NAME_UMI, as UMI-tools extract writes them), amplified (PCR errors copied into
a share of each molecule's reads) and sequenced (0.3% errors, UMI errors), about
1,000,000 reads; then runs `vidjil detect` on the same file with and without
`--umi name` (2 threads, fastest of --repeat runs) and compares the molecules of
every clone of >= 10 molecules with the truth. Rewrites the "## UMIs" section of
bench/RESULTS.md (the other sections are left as they are).
Usage: python bench/umi_bench.py [--reads N] [--repeat K]"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_bench import PYTHON, load_average, measure  # noqa: E402

from vidjil.simulate import (  # noqa: E402
    ReadSpec,
    UmiSpec,
    clone_sizes,
    generate_umi_reads,
    simulate_clones,
    umi_records,
    write_fastq,
    write_umi_truth,
)

LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
SEED = 2121
UMI = UmiSpec()


def make(out_dir: Path, reads: int) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    fastq, truth = out_dir / f"umi-{reads}.fastq.gz", out_dir / f"umi-{reads}.truth.tsv"
    if fastq.exists() and truth.exists():
        return fastq, truth
    t0 = time.perf_counter()
    clones = simulate_clones(LOCI, 300, seed=SEED, shm=True)
    spec = ReadSpec(error_rate=0.003, noise_fraction=0.05, min_length=150, max_length=300)
    molecules = clone_sizes(len(clones), round(reads * (1 - spec.noise_fraction) / UMI.mean_reads), random.Random(SEED))
    generated = list(generate_umi_reads(clones, molecules, SEED, spec, UMI))
    write_umi_truth(truth, clones, molecules, generated)
    n = write_fastq(fastq, umi_records(iter(generated), "name"))
    print(f"made {fastq} ({n} reads) in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return fastq, truth


def detect(fastq: Path, out: Path, *extra: str) -> tuple[float, float, dict, dict]:
    cmd = [PYTHON, "-m", "vidjil.cli", "detect", str(fastq), "-o", str(out), "-b", "s", "-q", "-t", "2", *extra]
    wall, rss, _ = measure(cmd)
    stats = json.loads((out / "s.stats.json").read_text())
    return wall, rss, stats, json.loads((out / "s.vidjil").read_text())


def accuracy(doc: dict, truth: Path) -> tuple[int, int, int, tuple[float, str], int]:
    """Clones of >= 10 molecules: how many, within 2%, within 2% or one molecule,
    the largest relative error (and its clone), and the total molecules counted for them. A reported
    clone counts for the true clone whose sequence holds its window (clones past the
    top -z have no representative to hold the junction)."""
    rows = [r for r in csv.DictReader(truth.open(), delimiter="\t") if int(r["molecules"]) >= 10]
    counted = dict.fromkeys((r["clone_id"] for r in rows), 0)
    for clone in doc["clones"]:
        owners = [r["clone_id"] for r in rows if clone["id"] in r["sequence"]]
        if len(owners) == 1:
            counted[owners[0]] += clone["molecules"][0]
    within = close = 0
    worst = (0.0, "")
    for r in rows:
        n, got = int(r["molecules"]), counted[r["clone_id"]]
        within += abs(got - n) <= 0.02 * n
        close += abs(got - n) <= max(1, 0.02 * n)
        worst = max(worst, (abs(got - n) / n, f"{r['clone_id']}: {got} for {n}"))
    return len(rows), within, close, worst, sum(counted.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--accuracy-only", action="store_true", help="no timing: the molecules of one run")
    args = parser.parse_args()
    fastq, truth = make(args.data, args.reads)
    if args.accuracy_only:
        with tempfile.TemporaryDirectory() as tmp:
            print(accuracy(detect(fastq, Path(tmp), "--umi", "name")[3], truth))
        return
    runs: dict[str, list[tuple[float, float, dict, dict]]] = {"reads": [], "umi": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for kind, extra in (("reads", ()), ("umi", ("--umi", "name"))):
                runs[kind].append(detect(fastq, Path(tmp) / f"{kind}{k}", *extra))
        # The memory bound at work: a budget of 100,000 (window, UMI) entries (1.6 MB).
        small = detect(fastq, Path(tmp) / "small", "--umi", "name", "--max-umis", "100000")
    small_n, small_within, small_close, _, small_counted = accuracy(small[3], truth)
    best = {kind: min(r, key=lambda x: x[2]["timings"]["detection_seconds"]) for kind, r in runs.items()}
    ratios = sorted(
        a[2]["timings"]["detection_seconds"] / b[2]["timings"]["detection_seconds"]
        for a, b in zip(runs["reads"], runs["umi"], strict=True)
    )
    det = {kind: b[2]["timings"]["detection_seconds"] for kind, b in best.items()}
    total = best["reads"][2]["reads"]["total"]
    umi = best["umi"][2]["umi"]
    n, within, close, worst, counted = accuracy(best["umi"][3], truth)
    true_total = sum(
        int(r["molecules"]) for r in csv.DictReader(truth.open(), delimiter="\t") if int(r["molecules"]) >= 10
    )
    per_run = ", ".join(
        f"{a[2]['timings']['detection_seconds']:.2f}/{b[2]['timings']['detection_seconds']:.2f}"
        for a, b in zip(runs["reads"], runs["umi"], strict=True)
    )
    lines = [
        "## UMIs (issue 21, bench/umi_bench.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python bench/umi_bench.py --repeat {args.repeat}` "
        f"(fastest of {args.repeat}; load average {load_average()}).",
        f"Input: `{fastq.name}`, {total:,} reads: 7 loci x 300 clones (power law), molecules tagged with "
        f"{UMI.umi_length}-nt UMIs in the read names, 1 + geometric reads per molecule (mean {UMI.mean_reads:g}), "
        f"PCR errors {UMI.pcr_error_rate:g}/base/molecule (each in 2^-c of the copies, c = 1..10), 0.3% sequencing "
        f"errors, UMI errors {UMI.umi_error_rate:g}/base, 5% noise. The same file with and without `--umi name`, "
        "2 threads.",
        "",
        "| measure | without --umi | with --umi name |",
        "|---|---|---|",
        f"| detection (engine seconds, 2 threads) | {det['reads']:.2f} s ({total / det['reads']:,.0f} reads/s) | "
        f"{det['umi']:.2f} s ({total / det['umi']:,.0f} reads/s): {100 * det['reads'] / det['umi']:.0f}% of the "
        "speed |",
        f"| process wall time | {best['reads'][0]:.2f} s | {best['umi'][0]:.2f} s |",
        f"| peak RSS | {best['reads'][1]:.0f} MB | {best['umi'][1]:.0f} MB |",
        f"| clones reported (>= 5 reads / >= 5 molecules) | {len(best['reads'][3]['clones']):,} | "
        f"{len(best['umi'][3]['clones']):,} |",
        f"| molecules (all clones) / UMIs merged / reads per molecule | | {umi['molecules']:,} / "
        f"{umi['umis_merged']:,} / "
        f"{best['umi'][2]['umi']['reads_per_molecule']} |",
        f"| true clones of >= 10 molecules: within 2% / within 2% or 1 molecule | | {within} / {close} of {n} "
        f"(largest error {100 * worst[0]:.1f}%, {worst[1]}) |",
        f"| their molecules, counted / true | | {counted:,} / {true_total:,} "
        f"({100 * (counted - true_total) / true_total:+.2f}%) |",
        f"| UMI error rate per base: estimated / simulated | | {umi['umi_error_rate']:.5f} / {UMI.umi_error_rate:g} |",
        f"| single-read UMIs two substitutions away merged / molecules hidden by UMI collisions (counted) | | "
        f"{umi['umis_merged_two_substitutions_away']:,} / {umi['molecules_hidden_by_umi_collisions']:,} |",
        f"| UMI collisions (in two reported clones) / molecules moved to a neighbour | | {umi['collisions']} / "
        f"{umi['molecules_reassigned_to_a_larger_neighbour']} |",
        f"| UMI tables evicted (budget {umi['max_umis']:,} entries, 64 MB) | | {umi['evicted_tables']} |",
        f"| `--max-umis 100000` (1.6 MB): tables evicted (reads) / peak RSS | | {small[2]['umi']['evicted_tables']:,} "
        f"({small[2]['umi']['evicted_reads']:,}) / {small[1]:.0f} MB |",
        f"| `--max-umis 100000`: clones of >= 10 molecules within 2% / 2% or 1 molecule; their molecules | | "
        f"{small_within} / {small_close} of {small_n}; {small_counted:,} |",
        "",
        f"Detection seconds per run, without/with: {per_run}; speed with / without, median of the pairs: "
        f"{100 * ratios[len(ratios) // 2]:.0f}% (target >= 80%). The machine is shared: single runs vary.",
        "",
    ]
    text = args.results.read_text() if args.results.exists() else "# Benchmark results\n"
    sections = re.split(r"(?m)^(?=## )", text)
    kept = [s for s in sections if not s.startswith("## UMIs")]
    args.results.write_text("".join(kept).rstrip("\n") + "\n\n" + "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
