"""`vidjil fuse`: the samples of a set in one `.vidjil` document, clones followed
over time (MRD), diversity and overlaps.

Inputs are `.vidjil` files (plain or gzip) or AIRR Rearrangement TSV, in sample
order. Two passes over the inputs, one file at a time (memory: the largest file,
plus a count per clone): the first finds the clones in the top `--top` of at least
one sample, the second follows them in every sample. A clone is matched across
samples by its window and by (locus, junction nucleotides), so that a window
shifted in one sample does not split it.

Given the sample sheet and the set (`--samples-sheet`, `--set-name`, ...), the
document also carries the samples' names, dates and info and the set, where the
reference Vidjil client reads them (`samples.names/timestamp/info`, `_set`)."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .airr_format import fused_rows, locus_of, read_airr, write_airr
from .alerts import alert_rows, follow_up_alerts
from .cross_patient import IndexLookup
from .errors import UserError
from .files import write_tsv
from .markers import marker_choices, marker_rows, matches
from .mrd import LOD_READS, MARKER_FRACTION, PG_PER_CELL, cells_of_dna, is_spike, marker_clones, mrd_rows
from .sheets import read_sheet
from .vidjil_format import (
    VIDJIL_JSON_VERSION,
    W_DESIGNATIONS_DIFFER,
    W_PRODUCTIVITY_DIFFERS,
    clone_locus,
    junction_nt,
    read_vidjil,
    warning,
)

# The MRD tables of a fused set: (columns, rows) of each.
MRD_TABLES = {"mrd": mrd_rows, "markers": marker_rows, "alerts": alert_rows}
SAMPLE_FIELDS = ("original_names", "run_timestamp", "producer", "commandline", "log")


@dataclass
class Clone:
    """One clone of one sample, as fusing needs it."""

    keys: list[tuple[str, ...]]
    reads: int
    record: dict[str, Any]


@dataclass
class Sample:
    """What a sample brings besides its clones."""

    name: str
    total: int
    segmented: int
    germline: dict[str, int]
    meta: dict[str, list[Any]] = field(default_factory=dict)
    diversity: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def clone_keys(window: str | None, locus: str, junction: str) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    if window:
        keys.append(("w", window))
    if junction:
        keys.append(("j", locus, junction))
    return keys


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _at(value: Any, i: int, default: Any = 0) -> Any:
    """Sample `i`'s value of a per-sample field (a list, or a scalar for one sample)."""
    if isinstance(value, list):
        return value[i] if i < len(value) and value[i] is not None else default
    return value if i == 0 and value is not None else default


# What clone sizes count: reads, or molecules when every sample has them (--umi).
READS, MOLECULES = "reads", "molecules"


def document_has_molecules(doc: dict[str, Any]) -> bool:
    """Whether a `.vidjil` document counts molecules: a sample of `vidjil detect
    --umi` (`molecules`, and per clone), or a set fused in molecules (`_counts`)."""
    if doc.get("_counts") == MOLECULES:
        return True
    molecules = doc.get("molecules")
    return isinstance(molecules, dict) and "segmented" in molecules and all("molecules" in c for c in doc["clones"])


def counts_unit(paths: list[Path]) -> str:
    """MOLECULES when every input has molecules (`.vidjil` of `detect --umi`, a set
    fused in molecules, AIRR with `umi_count`), else READS."""
    for path in paths:
        if path.name.lower().endswith((".tsv", ".tsv.gz")):
            rows = read_airr(path)
            if not rows or not all(row.get("umi_count") for row in rows):
                return READS
        elif not document_has_molecules(read_vidjil(path)):
            return READS
    return MOLECULES if paths else READS


def _vidjil_samples(path: Path, unit: str = READS) -> list[tuple[Sample, list[Clone]]]:
    """The samples of a `.vidjil` file: one, or each sample of a fused file. With
    `unit` MOLECULES, its molecules stand for its reads (sample and clone counts)."""
    doc = read_vidjil(path)
    reads = doc["reads"]
    if unit == MOLECULES and doc.get("_counts") != MOLECULES:
        molecules = doc["molecules"]
        reads = {**reads, "segmented": molecules["segmented"], "germline": molecules.get("germline", {})}
        for record in doc["clones"]:
            record["reads"] = record.pop("molecules")
            record.pop("_umi", None)
    elif unit == READS and doc.get("_counts") == MOLECULES:
        raise UserError(f"{path}: a set fused in molecules cannot be fused with samples counted in reads")
    n = len(reads["total"]) if isinstance(reads["total"], list) else 1
    meta = {
        key: list(v) if isinstance(v, list) else [v] for key, v in doc.get("samples", {}).items() if key != "number"
    }
    names = meta.get("names") if n > 1 and any(meta.get("names") or []) else meta.get("original_names")
    undetected = reads.get("_undetected", {})
    diversity = doc.get("diversity", {}).get("_by_system", [{}])
    warnings = doc.get("_warn_samples") if n > 1 else [doc.get("warn", [])]
    keyed = [(clone_keys(record["id"], clone_locus(record), junction_nt(record)), record) for record in doc["clones"]]
    samples = []
    for i in range(n):
        name = _at(names, i, "") or (path.name if n == 1 else f"{path.name}#{i + 1}")
        per_undetected = _at(undetected, i, {}) if isinstance(undetected, list) else undetected
        sample = Sample(
            name=str(name),
            total=int(_at(reads["total"], i)),
            segmented=int(_at(reads["segmented"], i)),
            germline={k: int(_at(v, i)) for k, v in reads.get("germline", {}).items()},
            meta={key: [_at(v, i, "")] for key, v in meta.items()},
            diversity=_at(diversity, i, {}) or {},
            extra={
                "undetected": {k: int(_at(v, i)) for k, v in per_undetected.items()},
                "warn": _at(warnings, i, []) if isinstance(warnings, list) else [],
                "germlines": doc.get("germlines", {}),
            },
        )
        clones = [Clone(keys, int(_at(record["reads"], i)), record) for keys, record in keyed]
        clones = [c for c in clones if c.reads > 0] if n > 1 else clones
        clones.sort(key=lambda c: -c.reads)
        samples.append((sample, clones))
    return samples


def _airr_sample(path: Path, unit: str = READS) -> tuple[Sample, list[Clone]]:
    """Rows of an AIRR Rearrangement TSV; rows sharing a `clone_id` are one clone
    (counted in `umi_count` with `unit` MOLECULES)."""
    rows = read_airr(path)
    by_clone: dict[str, Clone] = {}
    for n, row in enumerate(rows, start=2):
        try:
            if unit == MOLECULES:
                count = int(row["umi_count"])
            else:
                count = int(row.get("duplicate_count") or row.get("consensus_count") or 1)
        except ValueError:
            raise UserError(f"{path}, row {n}: the read count of {row['sequence_id']!r} is not a number") from None
        locus = row.get("locus") or ""
        junction = (row.get("junction") or "").upper()
        window = row.get("vidjil_window") or None
        clone_id = row.get("clone_id") or row["sequence_id"]
        if clone_id in by_clone:
            by_clone[clone_id].reads += count
            continue
        calls = [row.get(k, "").split(",")[0] for k in ("v_call", "d_call", "j_call")]
        record: dict[str, Any] = {
            "id": window or (f"{locus}:{junction}" if junction else row["sequence_id"]),
            "germline": row.get("vidjil_system") or locus,
            "sequence": row.get("sequence", ""),
            "name": " ".join(c for c in calls if c),
            "_airr": {k: v for k, v in row.items() if v},
        }
        if junction:
            record["seg"] = {"junction": {"aa": row.get("junction_aa", ""), "productive": row.get("productive") == "T"}}
        by_clone[clone_id] = Clone(clone_keys(window, locus, junction), count, record)
    clones = sorted(by_clone.values(), key=lambda c: -c.reads)
    segmented = sum(c.reads for c in clones)
    germline: dict[str, int] = {}
    for c in clones:
        germline[c.record["germline"]] = germline.get(c.record["germline"], 0) + c.reads
    sample = Sample(path.name.split(".")[0], segmented, segmented, germline, meta={"original_names": [path.name]})
    sample.diversity = {
        system: diversity_of([c.reads for c in clones if c.record["germline"] == system]) for system in germline
    }
    return sample, clones


def read_samples(path: Path, unit: str = READS) -> list[tuple[Sample, list[Clone]]]:
    """The samples of a file and their clones, ranked (most reads, or molecules with
    `unit` MOLECULES, first): a `.vidjil` sample, each sample of a fused `.vidjil`, or
    an AIRR TSV sample."""
    name = path.name.lower()
    if name.endswith((".tsv", ".tsv.gz")):
        return [_airr_sample(path, unit)]
    try:
        return _vidjil_samples(path, unit)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # Valid JSON without what a sample needs (reads.total, a clone's id or reads...).
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"{path}: not a .vidjil sample fuse can read ({what})") from None


def diversity_of(sizes: list[int]) -> dict[str, float]:
    """Shannon (natural log), Pielou evenness, Simpson (1 - sum n(n-1)/N(N-1)),
    clonality (1 - evenness) and bias-corrected Chao1 of clone sizes."""
    sizes = [s for s in sizes if s > 0]
    n, s = sum(sizes), len(sizes)
    if n == 0:
        return {"clones": 0, "reads": 0, "shannon": 0.0, "evenness": 0.0, "simpson": 0.0, "chao1": 0.0}
    shannon = -sum(x / n * math.log(x / n) for x in sizes)
    f1, f2 = sizes.count(1), sizes.count(2)
    return {
        "clones": s,
        "reads": n,
        "shannon": shannon,
        "evenness": shannon / math.log(s) if s > 1 else 0.0,
        "simpson": 1 - sum(x * (x - 1) for x in sizes) / (n * (n - 1)) if n > 1 else 0.0,
        "chao1": s + f1 * max(0, f1 - 1) / (2 * (f2 + 1)),
    }


def overlaps(a: dict[Any, int], b: dict[Any, int]) -> dict[str, float]:
    """Morisita-Horn and Jaccard overlap of two samples (clone -> reads)."""
    x, y = sum(a.values()), sum(b.values())
    shared = set(a) & set(b)
    union = set(a) | set(b)
    jaccard = len(shared) / len(union) if union else 0.0
    if not x or not y:
        return {"morisita_horn": 0.0, "jaccard": jaccard}
    dx = sum(v * v for v in a.values()) / (x * x)
    dy = sum(v * v for v in b.values()) / (y * y)
    cross = sum(a[k] * b[k] for k in shared)
    return {"morisita_horn": 2 * cross / ((dx + dy) * x * y), "jaccard": jaccard}


class Entities:
    """Union-find over clone keys: the clones sharing a window or a junction are one."""

    def __init__(self) -> None:
        self.parent: dict[tuple[str, ...], tuple[str, ...]] = {}

    def find(self, key: tuple[str, ...]) -> tuple[str, ...]:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def add(self, keys: list[tuple[str, ...]]) -> tuple[str, ...]:
        for k in keys:
            self.parent.setdefault(k, k)
        roots = sorted({self.find(k) for k in keys})
        for r in roots[1:]:
            self.parent[r] = roots[0]
        return roots[0]

    def lookup(self, keys: list[tuple[str, ...]]) -> tuple[str, ...] | None:
        for k in keys:
            if k in self.parent:
                return self.find(k)
        return None


def _decade(fraction: float) -> float:
    return 10.0 ** math.floor(math.log10(fraction)) if fraction > 0 else 0.0


@dataclass
class SampleInfo:
    """A sample's row of the sample sheet: what the reference web client reads
    (date, info) and what MRD needs (DNA input, replicate group)."""

    date: str = ""
    info: str = ""
    dna_ng: float | None = None
    pg_per_cell: float | None = None
    replicate: str = ""


@dataclass
class SetInfo:
    """The set being fused (`_set` of the document)."""

    name: str = ""
    type: str = ""
    info: str = ""
    analysis: str = ""


@dataclass
class FuseOptions:
    top: int = 50
    spike: str | None = None
    spike_copies: list[float] = field(default_factory=list)
    # Sample sheet rows by sample name: the document gets samples.names/timestamp/info.
    sample_sheet: dict[str, SampleInfo] | None = None
    sample_set: SetInfo | None = None
    # MRD: the diagnosis sample (default: the first), the markers the sets sheet
    # lists (windows or junctions; default: clones of >= marker_fraction of their
    # locus at diagnosis), new clones of >= new_clone_fraction after diagnosis.
    diagnosis: str | None = None
    markers: list[str] = field(default_factory=list)
    marker_fraction: float = MARKER_FRACTION
    new_clone_fraction: float = MARKER_FRACTION
    # The index of earlier runs, and this set's patients: markers seen in other patients.
    index: Path | None = None
    patients: list[str] = field(default_factory=list)


def _positive_number(path: Path, n: int, name: str, column: str, text: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or math.isinf(value):
        raise UserError(f"{path}, row {n} (sample '{name}'): {column} '{text}' is not a positive number")
    return value


def read_sample_sheet(path: Path) -> dict[str, SampleInfo]:
    """The workflow's sample sheet (TSV: `sample`, optional `date` YYYY-MM-DD, `info`,
    `dna_ng`, `pg_per_cell`, `replicate`; other columns ignored, `#` lines are
    comments), by sample name."""
    table = read_sheet(path)
    if "sample" not in table.columns:
        raise UserError(f"{path}: not a sample sheet (no 'sample' column)")
    sheet: dict[str, SampleInfo] = {}
    for n, cell in table.to_dict("index").items():
        name = cell["sample"]
        when = cell.get("date", "")
        if when:
            try:
                date.fromisoformat(when)
            except ValueError:
                raise UserError(f"{path}, row {n} (sample '{name}'): date '{when}' is not YYYY-MM-DD") from None
        if name:
            sheet[name] = SampleInfo(
                date=when,
                info=cell.get("info", ""),
                dna_ng=_positive_number(path, int(n), name, "dna_ng", cell.get("dna_ng", "")),
                pg_per_cell=_positive_number(path, int(n), name, "pg_per_cell", cell.get("pg_per_cell", "")),
                replicate=cell.get("replicate", ""),
            )
    return sheet


def _sheet_rows(
    sources: list[Path], samples: list[Sample], sheet: dict[str, SampleInfo]
) -> list[tuple[str, SampleInfo]]:
    """(name, row) of each sample: its sample name, else its file name up to the first dot."""
    rows = []
    for path, sample in zip(sources, samples, strict=True):
        name = next((n for n in (sample.name, path.name.split(".")[0]) if n in sheet), None)
        if name is None:
            raise UserError(f"{path}: sample '{sample.name}' is not in the sample sheet")
        rows.append((name, sheet[name]))
    return rows


def locus_totals(sample: Sample) -> dict[str, int]:
    totals: dict[str, int] = {}
    for system, count in sample.germline.items():
        totals[locus_of(system)] = totals.get(locus_of(system), 0) + count
    return totals


def _diagnosis(names: list[str], options: FuseOptions) -> int:
    if options.diagnosis is None:
        return 0
    if options.diagnosis not in names:
        raise UserError(f"--diagnosis: '{options.diagnosis}' is not a sample of the set ({', '.join(names)})")
    return names.index(options.diagnosis)


def fuse(paths: list[Path], options: FuseOptions) -> dict[str, Any]:
    """Fuse the samples of `paths` (in sample order; a fused file brings its samples)."""
    entities = Entities()
    best: dict[tuple[str, ...], tuple[int, int, dict[str, Any]]] = {}
    samples: list[Sample] = []
    sources: list[Path] = []
    # Marker candidates of each sample, followed whatever their rank once the diagnosis is known.
    candidates: list[list[tuple[int, Clone]]] = []

    def follow(rank: int, i: int, clone: Clone) -> None:
        root = entities.add(clone.keys)
        if root not in best or (rank, i) < best[root][:2]:
            best[root] = (rank, i, clone.record)

    # Molecules when every sample has them (--umi), else reads.
    unit = counts_unit(paths)
    # First pass: the clones in some sample's top, and the best-ranked record of each.
    for path in paths:
        for sample, clones in read_samples(path, unit):
            i = len(samples)
            samples.append(sample)
            sources.append(path)
            totals = locus_totals(sample)
            candidates.append([])
            for rank, clone in enumerate(clones, start=1):
                if not clone.keys:
                    continue
                if rank <= options.top or any(matches(clone.record, m) for m in options.markers):
                    follow(rank, i, clone)
                elif clone.reads >= options.marker_fraction * totals.get(clone_locus(clone.record), 0) > 0:
                    candidates[i].append((rank, clone))
    sheet_rows = _sheet_rows(sources, samples, options.sample_sheet) if options.sample_sheet is not None else None
    names = [name for name, _ in sheet_rows] if sheet_rows else [s.name for s in samples]
    diagnosis = _diagnosis(names, options)
    for rank, clone in candidates[diagnosis] if samples else []:
        follow(rank, diagnosis, clone)
    # Merged entities keep one root: re-key the best records.
    followed: dict[tuple[str, ...], tuple[int, int, dict[str, Any]]] = {}
    for root, value in best.items():
        r = entities.find(root)
        if r not in followed or value[:2] < followed[r][:2]:
            followed[r] = value
    n = len(samples)
    reads = {root: [0] * n for root in followed}
    designations: dict[tuple[str, ...], list[str | None]] = {root: [None] * n for root in followed}
    productive: dict[tuple[str, ...], list[bool | None]] = {root: [None] * n for root in followed}
    others: list[dict[float, list[int]]] = [{} for _ in range(n)]
    profiles: list[dict[Any, int]] = [{} for _ in range(n)]
    spike_reads = [0] * n
    # Second pass: every clone of every sample, followed or counted with the others.
    i = -1
    for path in paths:
        for _, clones in read_samples(path, unit):
            i += 1
            segmented = max(1, samples[i].segmented)
            for clone in clones:
                entity = entities.lookup(clone.keys) if clone.keys else None
                key: Any = entity if entity is not None else (clone.keys[0] if clone.keys else clone.record.get("id"))
                profiles[i][key] = profiles[i].get(key, 0) + clone.reads
                if options.spike and is_spike(clone.record, options.spike):
                    spike_reads[i] += clone.reads
                if entity is None:
                    bucket = others[i].setdefault(_decade(clone.reads / segmented), [0, 0])
                    bucket[0] += 1
                    bucket[1] += clone.reads
                    continue
                reads[entity][i] += clone.reads
                if designations[entity][i] is None:
                    designations[entity][i] = clone.record.get("name")
                    junction = (clone.record.get("seg") or {}).get("junction")
                    productive[entity][i] = bool(junction["productive"]) if isinstance(junction, dict) else None
    if i + 1 != n:
        raise UserError(f"{', '.join(map(str, paths))}: changed while being fused")
    fused = _document(samples, followed, reads, designations, productive, others, profiles, spike_reads, options)
    if unit == MOLECULES:
        # Every count of the set (clones, samples, loci, MRD) is of molecules.
        fused["_counts"] = MOLECULES
    _add_sheet_values(fused, sheet_rows, options.sample_set)
    _add_mrd(fused, diagnosis, options)
    return fused


def _add_sheet_values(
    fused: dict[str, Any], rows: list[tuple[str, SampleInfo]] | None, sample_set: SetInfo | None
) -> None:
    """The sample sheet's names, dates and info, and the set, where the reference
    client reads them (samples.names/timestamp/info, and `_set`); the DNA inputs,
    their cell equivalents and the replicate groups for MRD."""
    if rows is not None:
        fused["samples"]["names"] = [name for name, _ in rows]
        fused["samples"]["timestamp"] = [row.date for _, row in rows]
        fused["samples"]["info"] = [row.info for _, row in rows]
        if any(row.dna_ng for _, row in rows):
            fused["samples"]["_dna_ng"] = [row.dna_ng for _, row in rows]
            fused["samples"]["_cell_equivalents"] = [
                cells_of_dna(row.dna_ng, row.pg_per_cell or PG_PER_CELL) if row.dna_ng else None for _, row in rows
            ]
        if any(row.replicate for _, row in rows):
            fused["samples"]["_replicate"] = [row.replicate for _, row in rows]
    if sample_set is not None:
        fused["_set"] = asdict(sample_set)


def _add_mrd(fused: dict[str, Any], diagnosis: int, options: FuseOptions) -> None:
    """The markers and their flags, and the follow-up alerts (`_mrd`, and warnings
    of the clones they are about)."""
    mrd = fused["_mrd"]
    mrd.update(diagnosis=diagnosis, marker_fraction=options.marker_fraction, markers=[], alerts=[])
    # A sequencing run mixes patients: no diagnosis, no follow-up (its contamination
    # table is `vidjil contamination`), unless the sheet lists markers to follow.
    if options.sample_set and options.sample_set.type == "run" and not options.markers:
        mrd["index"] = "not searched (a run set)"
        return
    lookup = IndexLookup(options.index)
    try:
        mrd["markers"] = marker_choices(fused, options.markers, options.marker_fraction, lookup, options.patients)
    finally:
        lookup.close()
    mrd["index"] = lookup.problem or str(options.index)
    alerts = follow_up_alerts(fused, marker_clones(fused), options.new_clone_fraction)
    mrd["alerts"] = alerts
    by_top = {clone["top"]: clone for clone in fused["clones"]}
    for alert in alerts:
        by_top[alert["clone"]].setdefault("warn", []).append(warning(alert["code"], alert["message"]))


def _warnings(names: list[str | None], productive: list[bool | None]) -> list[dict[str, str]]:
    warn = []
    distinct = sorted({x for x in names if x})
    if len(distinct) > 1:
        warn.append(warning(W_DESIGNATIONS_DIFFER, "Different designations in samples: " + " | ".join(distinct)))
    if len({p for p in productive if p is not None}) > 1:
        warn.append(warning(W_PRODUCTIVITY_DIFFERS, "Productive in some samples, unproductive in others"))
    return warn


def _document(
    samples: list[Sample],
    followed: dict[tuple[str, ...], tuple[int, int, dict[str, Any]]],
    reads: dict[tuple[str, ...], list[int]],
    names: dict[tuple[str, ...], list[str | None]],
    productive: dict[tuple[str, ...], list[bool | None]],
    others: list[dict[float, list[int]]],
    profiles: list[dict[Any, int]],
    spike_reads: list[int],
    options: FuseOptions,
) -> dict[str, Any]:
    n = len(samples)
    segmented = [s.segmented for s in samples]
    totals = [s.total for s in samples]
    lod = [LOD_READS / s if s else 1.0 for s in segmented]
    order = sorted(
        followed,
        key=lambda r: (-max(c / max(1, s) for c, s in zip(reads[r], segmented, strict=True)), followed[r][0], r),
    )
    copies = options.spike_copies * n if len(options.spike_copies) == 1 else options.spike_copies
    clones = []
    for position, root in enumerate(order, start=1):
        _, sample, record = followed[root]
        counts = reads[root]
        # (a sample's molecules are not the set's: a set fused in reads has none, one in
        # molecules has them as its `reads`)
        clone = {k: v for k, v in record.items() if k not in ("reads", "top", "warn", "molecules", "_umi")}
        clone["reads"] = counts
        clone["top"] = position
        mrd: dict[str, Any] = {
            "fraction_detected": [c / s if s else 0.0 for c, s in zip(counts, segmented, strict=True)],
            "fraction_total": [c / t if t else 0.0 for c, t in zip(counts, totals, strict=True)],
            "limit_of_detection": lod,
            "below_limit": [c == 0 for c in counts],
            "best_sample": sample,
        }
        if options.spike:
            mrd["spike_normalised_copies"] = [
                c * k / s if s else None for c, k, s in zip(counts, copies, spike_reads, strict=True)
            ]
        clone["_mrd"] = mrd
        fused_codes = (W_DESIGNATIONS_DIFFER, W_PRODUCTIVITY_DIFFERS)
        # The reference tool's files may hold other entries than warnings (0) there.
        warn = [w for w in (record.get("warn") or []) if isinstance(w, dict) and w.get("code") not in fused_codes]
        warn += _warnings(names[root], productive[root])
        if warn:
            clone["warn"] = warn
        clones.append(clone)
    systems = sorted({k for s in samples for k in s.germline})
    by_system = [
        {
            system: {**d, "clonality": 1 - d.get("evenness", 0.0)}
            for system, d in s.diversity.items()
            if isinstance(d, dict) and d.get("clones")
        }
        for s in samples
    ]
    overall = [diversity_of(list(p.values())) for p in profiles]
    pairs = [{"samples": [a, b], **overlaps(profiles[a], profiles[b])} for a in range(n) for b in range(a + 1, n)]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    meta = {key: [v for s in samples for v in s.meta.get(key, [""])] for key in SAMPLE_FIELDS}
    meta["original_names"] = [s.name for s in samples]
    if any(s.meta.get("_min_reads") for s in samples):
        meta["_min_reads"] = [_first(s.meta.get("_min_reads")) for s in samples]
    return {
        "vidjil_json_version": VIDJIL_JSON_VERSION,
        "producer": f"vidjil-platform {__version__} (fuse)",
        "timestamp": now,
        "samples": {"number": n, **meta},
        "reads": {
            "total": totals,
            "segmented": segmented,
            "germline": {k: [s.germline.get(k, 0) for s in samples] for k in systems},
            "_undetected": [s.extra.get("undetected", {}) for s in samples],
            "_others": [
                [{"min_fraction": d, "clones": c, "reads": r} for d, (c, r) in sorted(o.items(), reverse=True)]
                for o in others
            ],
        },
        "germlines": samples[0].extra.get("germlines", {}) if samples else {},
        "diversity": {
            "index_H_entropy": [d["shannon"] for d in overall],
            "index_E_equitability": [d["evenness"] for d in overall],
            "index_Ds_diversity": [d["simpson"] for d in overall],
            "_by_system": by_system,
            "_overlap": pairs,
        },
        "_warn_samples": [s.extra.get("warn", []) for s in samples],
        "_mrd": {"limit_of_detection_reads": LOD_READS, "spike": options.spike, "spike_reads": spike_reads},
        "clones": clones,
        "_fuse": {"top": options.top, "clones_followed": len(clones)},
    }


DIVERSITY_FIELDS = ["sample", "locus", "index", "value", "other_sample"]


def diversity_rows(doc: dict[str, Any]) -> Iterator[list[str]]:
    """Long TSV rows: sample, locus, index, value, other sample (overlaps)."""
    names = doc["samples"]["original_names"]
    for name, by_system in zip(names, doc["diversity"]["_by_system"], strict=True):
        for locus, d in sorted(by_system.items()):
            for index in ("clones", "reads", "shannon", "evenness", "simpson", "clonality", "chao1"):
                if index in d:
                    yield [name, locus, index, f"{d[index]:.6g}", ""]
    for pair in doc["diversity"]["_overlap"]:
        a, b = (names[k] for k in pair["samples"])
        for index in ("morisita_horn", "jaccard"):
            yield [a, "all", index, f"{pair[index]:.6g}", b]


def run_fuse(
    inputs: list[Path],
    output: Path,
    options: FuseOptions,
    airr: Path | None = None,
    diversity: Path | None = None,
    tables: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Fuse `inputs` into `output` (and the AIRR, diversity and MRD tables asked
    for: `tables` maps 'mrd', 'markers', 'alerts' to their files), all or none."""
    from .atomic import atomic_outputs

    if not inputs:
        raise UserError("fuse: no input file")
    if options.spike_copies and len(options.spike_copies) not in (1, len(inputs)):
        raise UserError(f"--spike-copies: give 1 value or one per sample ({len(inputs)})")
    fused = fuse(inputs, options)
    try:
        with atomic_outputs() as outputs:
            outputs.write(output, lambda h: json.dump(fused, h, indent=1))
            if airr is not None:
                rows = fused_rows(fused)
                outputs.write(airr, lambda h: write_airr(h, rows, extra_fields=["repertoire_id"]))
            if diversity is not None:
                rows = [dict(zip(DIVERSITY_FIELDS, row, strict=True)) for row in diversity_rows(fused)]
                outputs.write(diversity, functools.partial(write_tsv, fields=DIVERSITY_FIELDS, rows=rows))
            for kind, path in (tables or {}).items():
                fields, rows = MRD_TABLES[kind](fused)
                outputs.write(path, functools.partial(write_tsv, fields=fields, rows=rows))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    return fused
