"""`vidjil contamination`: for a sequencing run, each sample's clones of at least
`min_fraction` of their locus that are found in samples of other patients, in
this run (any size, from the samples' files) and in earlier runs (the index keeps
the top clones of each sample), with the reads on both sides: a carry-over or an
index-hopping is seen the day the run is analysed.

Clones are matched by window or by (locus, junction) within the run, by junction
in the index. Patients come from the sheets (`vidjil.cross_patient`).

When every sample of the run has molecules (`detect --umi`), clones are compared in
molecules (the threshold, the counts, the fractions; `fuse.counts_unit`), and the
table names its count columns `molecules` and `other_molecules`; an earlier run's
sample counted in reads is listed with those two cells empty (its reads are not
molecules)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .cross_patient import IndexLookup, other_patient
from .errors import UserError
from .fuse import READS, Clone, Sample, counts_unit, locus_totals, read_samples
from .sheets import read_sheet
from .vidjil_format import clone_junction, clone_locus

CONTAMINATION_FRACTION = 0.001
# The columns of a run counted in reads; in molecules, `reads` and `other_reads` are
# named `molecules` and `other_molecules` (`contamination_fields`).
CONTAMINATION_FIELDS = [
    "sample",
    "patient",
    "clone",
    "name",
    "locus",
    "junction",
    "reads",
    "fraction",
    "other_sample",
    "other_patient",
    "other_run",
    "other_reads",
    "other_fraction",
]


def contamination_fields(unit: str) -> list[str]:
    """The table's columns when the run is counted in `unit` (reads or molecules)."""
    names = {"reads": unit, "other_reads": f"other_{unit}"}
    return [names.get(field, field) for field in CONTAMINATION_FIELDS]


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows of a contamination table (`vidjil contamination`), counted in reads or
    in molecules (its columns say which): each row also gets `unit`, `count` and
    `other_count`, and its fractions as numbers (None when empty). One-line error
    naming the file when it cannot be read or lacks the columns."""
    import csv

    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{path}: cannot read the contamination table: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    reader = csv.DictReader(lines, delimiter="\t")
    header = reader.fieldnames or []
    unit = "molecules" if "molecules" in header else "reads"
    missing = [f for f in contamination_fields(unit) if f not in header]
    if missing:
        raise UserError(f"{path}: not a contamination table: no column {missing[0]!r}")
    rows = []
    for row in reader:
        row = {**row, "unit": unit, "count": row[unit], "other_count": row[f"other_{unit}"]}
        for key in ("fraction", "other_fraction"):
            try:
                row[key] = float(row[key]) if row[key] else None
            except ValueError:
                raise UserError(f"{path}: {key} {row[key]!r} is not a number") from None
        rows.append(row)
    return rows


@dataclass
class RunSample:
    name: str
    patients: list[str]
    locus_totals: dict[str, int]


@dataclass
class TopClone:
    sample: int
    rank: int
    clone: Clone
    locus: str
    fraction: float


def patients_from_sheets(samples_sheet: Path, sets_sheet: Path) -> dict[str, list[str]]:
    """Sample -> its patient sets (sets of type `patient` its `sets` cell names)."""
    sets = read_sheet(sets_sheet)
    if not {"set", "type"} <= set(sets.columns):
        raise UserError(f"{sets_sheet}: not a sets sheet (no 'set' and 'type' columns)")
    patient_sets = set(sets.loc[sets["type"] == "patient", "set"])
    samples = read_sheet(samples_sheet)
    if "sample" not in samples.columns:
        raise UserError(f"{samples_sheet}: not a sample sheet (no 'sample' column)")
    members = samples["sets"] if "sets" in samples.columns else pd.Series("", index=samples.index)
    return {
        name: sorted(s.strip() for s in cell.split(";") if s.strip() in patient_sets)
        for name, cell in zip(samples["sample"], members, strict=True)
    }


def _name(path: Path, sample: Sample, known: dict[str, list[str]]) -> str:
    return next((n for n in (sample.name, path.name.split(".")[0]) if n in known), path.name.split(".")[0])


def contamination(
    paths: list[Path],
    patients: dict[str, list[str]],
    index: IndexLookup,
    min_fraction: float = CONTAMINATION_FRACTION,
    unit: str | None = None,
) -> list[dict[str, Any]]:
    """The rows of the contamination table of the samples of `paths` (a run), with
    `reads` and `other_reads`: their counts in `unit` (by default molecules when
    every sample has them: `counts_unit`)."""
    unit = unit or counts_unit(paths)
    samples: list[RunSample] = []
    tops: dict[tuple[str, ...], list[TopClone]] = {}
    top_list: list[TopClone] = []
    for path in paths:
        for sample, clones in read_samples(path, unit):
            name = _name(path, sample, patients)
            totals = locus_totals(sample)
            samples.append(RunSample(name, patients.get(name) or [name], totals))
            for rank, clone in enumerate(clones, start=1):
                locus = clone_locus(clone.record)
                total = totals.get(locus, 0)
                if clone.keys and total and clone.reads >= min_fraction * total:
                    top = TopClone(len(samples) - 1, rank, clone, locus, clone.reads / total)
                    top_list.append(top)
                    for key in clone.keys:
                        tops.setdefault(key, []).append(top)
    found: dict[tuple[int, int, str], dict[str, Any]] = {}
    index_sample = -1
    for path in paths:
        for _, clones in read_samples(path, unit):
            index_sample += 1
            here = samples[index_sample]
            for clone in clones:
                matched = {id(t): t for key in clone.keys for t in tops.get(key, [])}
                for top in matched.values():
                    source = samples[top.sample]
                    if top.sample == index_sample or not other_patient(source.patients, here.patients):
                        continue
                    total = here.locus_totals.get(top.locus, 0)
                    row = _row(source, top, here.name, here.patients, "this run", clone.reads, total)
                    pair = (top.sample, top.rank, here.name)
                    if pair not in found or row["other_reads"] > found[pair]["other_reads"]:
                        found[pair] = row
    run_names = {s.name for s in samples}
    hits = index.hits((clone_junction(t.clone.record) for t in top_list), unit)
    for top in top_list:
        source = samples[top.sample]
        for hit in hits.get(clone_junction(top.clone.record), []):
            if hit["sample"] in run_names or not other_patient(source.patients, hit["patients"]):
                continue
            row = _row(source, top, hit["sample"], hit["patients"], hit["run"], hit["reads"], 0)
            row["other_fraction"] = hit["fraction"]
            if hit["unit"] != unit:  # a sample of an earlier run counted in reads: no molecules to give
                row["other_reads"] = row["other_fraction"] = None
            found[(top.sample, top.rank, f"{hit['run']}/{hit['sample']}")] = row
    order = {name: k for k, name in enumerate(s.name for s in samples)}
    return sorted(
        found.values(), key=lambda r: (order[r["sample"]], r["clone"], r["other_run"] != "this run", r["other_sample"])
    )


def _row(
    source: RunSample, top: TopClone, other: str, other_patients: list[str], run: str, reads: int, total: int
) -> dict[str, Any]:
    record = top.clone.record
    return {
        "sample": source.name,
        "patient": ", ".join(source.patients),
        "clone": top.rank,
        "name": record.get("name") or "",
        "locus": top.locus,
        "junction": clone_junction(record) or str(record.get("id", "")),
        "reads": top.clone.reads,
        "fraction": top.fraction,
        "other_sample": other,
        "other_patient": ", ".join(other_patients),
        "other_run": run,
        "other_reads": reads,
        "other_fraction": reads / total if total else 0.0,
    }


def run_contamination(
    paths: list[Path],
    output: Path,
    patients: dict[str, list[str]],
    index: Path | None,
    min_fraction: float = CONTAMINATION_FRACTION,
) -> list[dict[str, Any]]:
    """Write the contamination table of a run to `output` (atomically)."""
    import functools

    from .atomic import atomic_outputs
    from .files import write_tsv

    if not paths:
        raise UserError("contamination: no input file")
    lookup = IndexLookup(index)
    try:
        unit = counts_unit(paths)
        rows = contamination(paths, patients, lookup, min_fraction, unit)
    finally:
        lookup.close()
    if unit != READS:
        names = {"reads": unit, "other_reads": f"other_{unit}"}
        rows = [{names.get(key, key): value for key, value in row.items()} for row in rows]
    try:
        with atomic_outputs() as outputs:
            fields = contamination_fields(unit)
            outputs.write(output, functools.partial(write_tsv, fields=fields, rows=rows))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    if lookup.problem and index is not None:
        print(f"contamination: earlier runs not searched: {lookup.problem}", file=sys.stderr)
    return rows
