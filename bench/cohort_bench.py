"""Benchmark of the cohort dataset (a script, not a test).

Makes (seeded) a results folder of 10,000 samples in 100 runs, each sample with a
Parquet clone table of 100 AIRR rows written as `vidjil detect` writes it, an index
that lists them (2,500 patients of 4 samples, one MRD marker each), then times
`vidjil cohort` (first build, then a rebuild with nothing changed) and cohort
queries with pyarrow.dataset and pandas: every row with a junction (amino acids,
nucleotides), and the V usage of the diagnoses of a year. Sizes: Parquet clone
tables against the AIRR TSV of the same rows, and the whole dataset.
Writes bench/COHORT_RESULTS.md.

Usage: python bench/cohort_bench.py [--samples N] [--runs R] [--repeat K]"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from vidjil import cohort, layout
from vidjil.airr_format import FIELDS, write_airr
from vidjil.clone_table import write_clone_table
from vidjil.index import TABLES, open_index, write_rows

HERE = Path(__file__).resolve().parent
AA = "ACDEFGHIKLMNPQRSTVWY"
ANALYSIS = "multi+inc"
CLONES = 100
WANTED_AA = "CARDLLWFGELYYFDYW"
WANTED_NT = "TGTGCGAGAGATCTTCTTTGGTTCGGGGAGTTATACTACTTTGACTACTGG"


def clone_rows(sample: str, rng: random.Random, wanted: bool) -> list[dict[str, str]]:
    """AIRR rows as detect writes them (text cells), the first one the wanted clone."""
    rows = []
    for rank in range(1, CLONES + 1):
        aa = "CAR" + "".join(rng.choice(AA) for _ in range(rng.randint(6, 16))) + "W"
        nt = "".join(rng.choice("ACGT") for _ in range(len(aa) * 3))
        if wanted and rank == 1:
            aa, nt = WANTED_AA, WANTED_NT
        v = f"IGHV{rng.randint(1, 7)}-{rng.randint(1, 30)}*01"
        sequence = "".join(rng.choice("ACGT") for _ in range(300))
        row = dict.fromkeys(FIELDS, "")
        row |= {
            "sequence_id": f"{sample}-{rank}", "sequence": sequence, "rev_comp": "F",
            "productive": rng.choice("TF"), "v_call": v, "d_call": "IGHD3-10*01", "j_call": "IGHJ4*02",
            "sequence_alignment": sequence, "germline_alignment": sequence, "junction": nt, "junction_aa": aa,
            "v_cigar": "300M", "d_cigar": "20S10M270S", "j_cigar": "250S50M", "junction_length": str(len(nt)),
            "cdr3": nt[3:-3], "cdr3_aa": aa[1:-1], "cdr3_start": "200", "cdr3_end": str(200 + len(nt) - 6),
            "v_sequence_start": "1", "v_sequence_end": "210", "j_sequence_start": "250", "j_sequence_end": "300",
            "v_identity": "0.98", "j_identity": "1.0", "locus": "IGH", "clone_id": str(rank),
            "duplicate_count": str(5000 // rank), "vidjil_system": "IGH", "vidjil_window": nt[:50],
            "vidjil_window_start": "190", "vidjil_evalue": "1.0e-30", "germline_database": "bench",
        }  # fmt: skip
        rows.append(row)
    return rows


def make_results(root: Path, samples: int, runs: int, rng: random.Random) -> tuple[float, float]:
    """The results folder and its index; returns the mean sizes (bytes) of a sample's
    Parquet clone table and of its AIRR TSV (the TSV of the first 100 samples only)."""
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    per_run = samples // runs
    start = date(2025, 1, 1)
    rows["runs"] = [(f"run{r:03d}", None, None, "completed", *[None] * 8) for r in range(runs)]
    parquet_sizes, tsv_sizes = [], []
    for i in range(samples):
        name, run = f"s{i:05d}", f"run{i // per_run:03d}"
        sample_date = (start + timedelta(days=i * 730 // samples)).isoformat()
        folder = root / layout.sample_file(ANALYSIS, name, "vidjil")
        folder.parent.mkdir(parents=True, exist_ok=True)
        airr = clone_rows(name, rng, wanted=i % 1000 == 0)
        write_clone_table(folder.with_suffix(".clones.parquet"), airr, name, None, {"sample": name})
        parquet_sizes.append(folder.with_suffix(".clones.parquet").stat().st_size)
        if i < 100:
            with open(folder.with_suffix(".airr.tsv"), "w") as handle:
                write_airr(handle, airr)
            tsv_sizes.append(folder.with_suffix(".airr.tsv").stat().st_size)
        rows["samples"].append((name, sample_date, None, None))
        rows["results"].append((i + 1, run, name, ANALYSIS, str(folder.relative_to(root)), f"sha{i}",
                                None, None, 100_000, 95_000, CLONES, "bench", None))  # fmt: skip
        patient = f"P{i // 4:04d}"
        rows["set_members"].append((patient, name, i % 4 + 1))
        if i % 4 == 0:
            rows["sample_sets"].append((patient, "patient", "diagnosis" if i % 4 == 0 else None))
            rows["fused"].append((i // 4 + 1, run, patient, ANALYSIS, f"{ANALYSIS}/sets/{patient}/x.vidjil", "sha",
                                   "reads"))  # fmt: skip
        rows["mrd"].append((i // 4 + 1, name, 1, "IGH", 5000 // (i % 4 + 1), 90_000, "reads", 0.05 / (i % 4 + 1),
                            15_000.0, 1e-4, 3e-4, "positive", None))  # fmt: skip
    rows["sample_sets"].sort()
    database = open_index(root / layout.INDEX)
    write_rows(database, rows)
    database.close()
    return statistics.mean(parquet_sizes), statistics.mean(tsv_sizes)


def timed(repeat: int, query: Callable[[], int]) -> tuple[float, int]:
    runs, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        found = query()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), found


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path, default=HERE / "COHORT_RESULTS.md")
    args = parser.parse_args()
    load_before = loadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "results"
        started = time.perf_counter()
        parquet_size, tsv_size = make_results(root, args.samples, args.runs, random.Random(11))
        made = time.perf_counter() - started
        started = time.perf_counter()
        first = cohort.rebuild(root)
        built = time.perf_counter() - started
        started = time.perf_counter()
        again = cohort.rebuild(root)
        unchanged = time.perf_counter() - started
        clones = root / layout.COHORT / "clones"
        dataset_size = folder_size(root / layout.COHORT)

        def by_junction(column: str, value: str) -> Callable[[], int]:
            def query() -> int:
                dataset = ds.dataset(clones, format="parquet", partitioning="hive")
                columns = ["analysis", "run", "patient", "sample", "date", "rank", "duplicate_count"]
                return dataset.to_table(filter=ds.field(column) == value, columns=columns).num_rows

            return query

        def with_pandas() -> int:
            return len(pd.read_parquet(clones, filters=[("junction_aa", "==", WANTED_AA)], columns=["sample"]))

        def v_usage() -> int:
            # The V usage of the first sample of each patient (their diagnoses) of 2026.
            frame = pd.read_parquet(
                clones,
                columns=["patient", "sample", "date", "v_call", "duplicate_count"],
                filters=[("date", ">=", "2026-01-01"), ("date", "<", "2027-01-01")],
            )
            first = frame.groupby("patient")["sample"].transform("min") == frame["sample"]
            return len(frame[first].groupby(frame["v_call"].str.split("*").str[0])["duplicate_count"].sum())

        queries = {
            "every row with a junction (aa), pyarrow.dataset": timed(
                args.repeat, by_junction("junction_aa", WANTED_AA)
            ),
            "every row with a junction (nt), pyarrow.dataset": timed(args.repeat, by_junction("junction", WANTED_NT)),
            "every row with a junction (aa), pandas.read_parquet with filters": timed(args.repeat, with_pandas),
            "V usage (genes) of the diagnoses of 2026, pandas": timed(args.repeat, v_usage),
        }
    rows = args.samples * CLONES
    lines = [
        "# Cohort dataset benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python bench/cohort_bench.py --repeat {args.repeat}`:",
        f"{args.samples:,} samples in {args.runs} runs, {CLONES} clones each ({rows:,} clone rows, 68 columns), their",
        f"Parquet clone tables written as detect writes them and an index listing them (made in {made:.0f} s).",
        f"Load average (1, 5, 15 min) before and after: {load_before}; {loadavg()}.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| `vidjil cohort`, first build ({first['written']} partitions) | {built:.1f} s | |",
        f"| `vidjil cohort`, nothing changed ({again['unchanged']} partitions unchanged) | {unchanged:.2f} s | |",
        *(
            f"| {label}, median of {args.repeat} | {1000 * t:.0f} ms ({n} rows) | < 1 s |"
            if "junction" in label
            else f"| {label}, median of {args.repeat} | {1000 * t:.0f} ms ({n} genes) | |"
            for label, (t, n) in queries.items()
        ),
        f"| size of a sample's clones ({CLONES} rows): AIRR TSV / Parquet | {tsv_size / 1e3:.0f} KB /"
        f" {parquet_size / 1e3:.0f} KB ({parquet_size / tsv_size:.0%}) | |",
        f"| size of the cohort dataset (clones + MRD) / the samples' Parquet tables / their AIRR TSV (estimated) | "
        f"{dataset_size / 1e6:.0f} MB / {parquet_size * args.samples / 1e6:.0f} MB /"
        f" {tsv_size * args.samples / 1e6:.0f} MB | |",
        "",
    ]
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
