"""Read sensitivity and precision of detection, with and without the rescue step (a script,
not a test; issue 17 point 1).

Seeded GenAIRR simulations of the 7 loci: no hypermutation, and 5% somatic hypermutation
on IG clones (GenAIRR's S5F model); 0.5% read errors, reads on both strands, 5% random
reads. Amplicon-like reads (150-300 nt ending in J), and capture-like ones (100-150 nt
cut anywhere around the junction: short V or J ends). Non-recombined germline reads are
added: a clone's V up to its junction start followed by 20-120 random nt, and 20-120
random nt followed by its J from the junction end (the side a rescue would look for is
random: none may be detected). Each read is detected alone (`Germline.detect_read`),
rescue on and off: recombined reads detected, random and non-recombined reads detected
(must be 0), reasons of the misses, and the share of reads that enter the rescue step
(those with only one side found). Usage:
python bench/rescue_sim.py [--reads N] [--clones-per-locus N] [--seed S] [-g FILE.g] [--results FILE]

With --results, the table replaces its section in FILE (bench/RESULTS.md), after the
sections run_bench.py writes."""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vidjil.germline import load_germline
from vidjil.simulate import (
    ReadSpec,
    _mutate,
    clone_sizes,
    generate_reads,
    noise_read,
    revcomp,
    simulate_clones,
)

LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
# name: (SHM rate of IG clones, amplicon-like reads)
SETTINGS = {
    "amplicon, no SHM": (0.0, True),
    "amplicon, SHM 5% (IG)": (0.05, True),
    "capture-like, no SHM": (0.0, False),
    "capture-like, SHM 5% (IG)": (0.05, False),
}
ERRORS = 0.005


def simulate(reads: int, per_locus: int, seed: int, shm_rate: float, amplicon: bool) -> list[tuple[str, str]]:
    """(sequence, clone id, 'noise' or 'germline') of `reads` reads, then as many
    non-recombined germline reads as there are clones."""
    clones = simulate_clones(LOCI, per_locus, seed=seed, shm=shm_rate > 0, shm_rate=shm_rate)
    lengths = (150, 300) if amplicon else (100, 150)
    spec = ReadSpec(ERRORS, 0.05, *lengths, amplicon=amplicon)
    sizes = clone_sizes(len(clones), round(reads * (1 - spec.noise_fraction)), random.Random(seed))
    out = [(seq, origin) for _, seq, origin in generate_reads(clones, sizes, seed, spec)]
    rng = random.Random(seed + 1)
    for clone in clones:
        tail = noise_read(rng.randint(20, 120), rng)
        if rng.random() < 0.5:
            seq = clone.sequence[: clone.junction_start][-rng.randint(100, 250) :] + tail
        else:
            seq = tail + clone.sequence[clone.junction_end :]
        seq = _mutate(seq, ERRORS, rng)
        out.append((revcomp(seq) if rng.random() < 0.5 else seq, "germline"))
    return out


NOT_RECOMBINED = ("noise", "germline")


def measure(germline: Any, reads: list[tuple[str, str]], rescue: bool) -> dict[str, Any]:
    outcomes = [germline.detect_read(seq, rescue=rescue) for seq, _ in reads]
    by_origin = list(zip(reads, outcomes, strict=True))

    def count(origins: tuple[str, ...] | None, detected: bool) -> int:
        return sum(
            o["detected"] == detected for (_, origin), o in by_origin if (origin in origins if origins else True)
        )

    recombined = [o for (_, origin), o in by_origin if origin not in NOT_RECOMBINED]
    misses = Counter(o["reason"] for o in recombined if not o["detected"])
    # Reads of the sample (recombined and random) that enter the rescue step.
    sample = [o for (_, origin), o in by_origin if origin != "germline"]
    one_side = sum(not o["detected"] and o["reason"] in ("only-v", "only-j") for o in sample)
    return {
        "recombined": len(recombined),
        "detected": sum(o["detected"] for o in recombined),
        "noise": count(("noise",), True) + count(("noise",), False),
        "noise_detected": count(("noise",), True),
        "germline": count(("germline",), True) + count(("germline",), False),
        "germline_detected": count(("germline",), True),
        "one_side": one_side,
        "total": len(sample),
        "misses": dict(misses.most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=40_000)
    parser.add_argument("--clones-per-locus", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1717)
    parser.add_argument("-g", "--germline", help="germline preset (default: built-in human set)")
    parser.add_argument("--results", type=Path, help="write the table as a section of this file (bench/RESULTS.md)")
    args = parser.parse_args()
    germline = load_germline(args.germline)
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = [
        "| reads | rescue | recombined reads detected | random, non-recombined reads detected |"
        " misses | sample reads left with one side only (rescue off: those that enter the rescue) |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(rows))
    for name, (rate, amplicon) in SETTINGS.items():
        t0 = time.perf_counter()
        reads = simulate(args.reads, args.clones_per_locus, args.seed, rate, amplicon)
        print(f"{name}: simulated {len(reads)} reads in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for rescue in (False, True):
            m = measure(germline, reads, rescue)
            rows.append(
                f"| {name} | {'on' if rescue else 'off'} | {m['detected']:,} / {m['recombined']:,}"
                f" ({m['detected'] / m['recombined']:.2%}) | {m['noise_detected']} / {m['noise']:,},"
                f" {m['germline_detected']} / {m['germline']:,} |"
                f" {', '.join(f'{k} {v}' for k, v in m['misses'].items()) or '-'} |"
                f" {m['one_side'] / m['total']:.2%} |"
            )
            print(rows[-1])
    if args.results:
        write_section(args, rows, load)


HEADING = "## Rescue step: read sensitivity (bench/rescue_sim.py)"


def write_section(args: argparse.Namespace, rows: list[str], load: str) -> None:
    """The table as the section HEADING of `args.results`, replacing the one there."""
    here = Path(__file__).resolve().parent
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here)
    text = args.results.read_text() if args.results.exists() else ""
    before, _, after = text.partition(HEADING)
    rest = after[after.find("\n## ") + 1 :] if "\n## " in after else ""
    section = [
        HEADING,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip() or '?'}, load average"
        f" {load}, with `python bench/rescue_sim.py --reads {args.reads} --clones-per-locus"
        f" {args.clones_per_locus} --seed {args.seed}`: {len(LOCI)} loci x {args.clones_per_locus} GenAIRR clones,",
        f"{args.reads:,} reads with {ERRORS:.1%} substitutions (5% of them random), both strands; amplicon-like"
        " reads are 150-300 nt ending in J,",
        "capture-like ones 100-150 nt cut anywhere around the junction. Non-recombined reads: one per clone, its V"
        " up to the",
        "junction followed by 20-120 random nt, or 20-120 random nt followed by its J. Each read detected alone"
        " (`detect_read`).",
        "",
        *rows,
        "",
    ]
    args.results.write_text(before.rstrip("\n") + "\n\n" + "\n".join(section) + ("\n" + rest if rest else ""))


if __name__ == "__main__":
    main()
