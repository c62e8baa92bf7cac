"""Benchmark of `vidjil index search` on a synthetic index (a script, not a test).

Builds (seeded) an index of 10,000 samples of 100 clones each (1,000,000 clone rows,
plus the rows of 2,500 fused sets of 4 samples), then times searches by junction
(amino acids, nucleotides) and by V gene, as `vidjil index search` runs them.
Writes bench/INDEX_RESULTS.md.

Usage: python bench/index_bench.py [--samples N] [--repeat K]"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vidjil.index import TABLES, TOP_CLONES, open_index, search, write_rows

HERE = Path(__file__).resolve().parent
AA = "ACDEFGHIKLMNPQRSTVWY"


def build(db: Path, samples: int, rng: random.Random) -> tuple[str, str, str]:
    """The index, written as `vidjil index rebuild` writes it (`write_rows`: one
    transaction, sqlite-utils upserts, full-text triggers); returns a junction (aa),
    a junction (nt) and a V gene to look for."""
    v_genes = [f"IGHV{f}-{k}" for f in range(1, 8) for k in range(1, 30)]
    wanted = ("CARDLLWFGELYYFDYW", "TGTGCGAGAGATCTTCTTTGGTTCGGGGAGTTATACTACTTTGACTACTGG", "IGHV3-23")
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    rows["runs"] = [("bench", None, None, "completed", *[None] * 8)]
    rows["sample_sets"] = [("set", "generic", None)]
    rows["samples"] = [(f"s{i}", None, None, None) for i in range(samples)]
    rows["results"] = [
        (i + 1, "bench", f"s{i}", "multi", f"multi/samples/s{i}/s{i}.vidjil", "", *[None] * 7) for i in range(samples)
    ]
    for i in range(samples):
        for rank in range(1, TOP_CLONES + 1):
            aa = "CAR" + "".join(rng.choice(AA) for _ in range(rng.randint(6, 16))) + "W"
            nt = "".join(rng.choice("ACGT") for _ in range(len(aa) * 3))
            v = rng.choice(v_genes) + "*01"
            row = (i + 1, rank, "IGH", v, None, "IGHJ4*02", nt, aa, 1000 // rank, 0.001 / rank, 1, *[None] * 3)
            if i % 1000 == 0 and rank == 1:  # the clone looked for, in 10 samples
                found = ("IGHV3-23*01", None, "IGHJ4*02", wanted[1], wanted[0], 5000, 0.2, 1)
                row = (i + 1, 1, "IGH", *found, *[None] * 3)
            rows["clones"].append(row)
    database = open_index(db)
    write_rows(database, rows)
    database.close()
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--results", type=Path, default=HERE / "INDEX_RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "index.sqlite"
        started = time.perf_counter()
        junction_aa, junction, v_gene = build(db, args.samples, random.Random(7))
        built = time.perf_counter() - started
        size = db.stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("index.sqlite-*"))
        timings = {}
        for label, kwargs in (
            ("junction (aa)", {"junction_aa": junction_aa, "junction": None, "v": None}),
            ("junction (nt)", {"junction_aa": None, "junction": junction, "v": None}),
            (
                "junction (aa), a 7-letter piece in lower case",
                {"junction_aa": junction_aa[3:10].lower(), "junction": None, "v": None},
            ),
            ("junction (nt), a 20-base piece", {"junction_aa": None, "junction": junction[10:30], "v": None}),
            ("V gene (all alleles)", {"junction_aa": None, "junction": None, "v": v_gene}),
        ):
            runs, hits = [], 0
            for _ in range(args.repeat):
                t = time.perf_counter()
                hits = len(search(db, **kwargs))
                runs.append(time.perf_counter() - t)
            timings[label] = (statistics.median(runs), hits)
    lines = [
        "# Index search benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python bench/index_bench.py --repeat {args.repeat}`:",
        f"a synthetic index of {args.samples:,} samples x {TOP_CLONES} clones ({args.samples * TOP_CLONES:,} clone",
        f"rows), built in {built:.1f} s, {size / 1e6:.0f} MB. Median of {args.repeat} searches each.",
        "",
        "| search | median time | samples found |",
        "|---|---|---|",
        *(f"| {label} | {1000 * t:.1f} ms | {hits} |" for label, (t, hits) in timings.items()),
        "",
    ]
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
