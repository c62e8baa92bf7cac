"""Minimal residual disease (MRD) of a fused set: the marker clones, their value in
every sample as a fraction of their locus's detected reads, the limits of
detection and quantification of each sample, and a status.

Rule (the README's "MRD: detection, quantification and status" says it in words):

- marker clones: the clones `fuse` chose (`_mrd.markers`: those the sets sheet
  names, else the clones with at least `MARKER_FRACTION` of their locus's detected
  reads at diagnosis); in a document without that choice (the reference tool's
  files), the clones with `MARKER_FRACTION` of their locus in the first sample;
- value: reads of the clone / detected reads of its locus in the sample (a TRG
  clone is not diluted by the IGH reads of a multi-locus run);
- cell equivalents: DNA input (`dna_ng`) / `PG_PER_CELL` (6.6 pg of DNA in a
  diploid human cell; the sample sheet's `pg_per_cell` overrides it);
- limit of detection (LoD): the larger of `LOD_READS` / locus reads and
  `LOD_CELLS` / cell equivalents. A clone at 3 / N has a 95% chance of at least one
  copy among N (Poisson: P(0) = e^-3 = 5%): among the reads sequenced, and among
  the cells whose DNA went into the tube. A sample lists only clones of at least
  `-r` reads (`samples._min_reads`, 5 by default): its LoD in reads is that when it
  is above 3. A clone without reads is reported as "< LoD", not as 0%;
- limit of quantification (LoQ): the larger of `LOQ_READS` / locus reads and
  `LOQ_CELLS` / cell equivalents. Below 10 copies the Poisson sampling error alone
  (coefficient of variation 1/sqrt(copies)) is above 32%, too large to report a
  number that follow-up decisions compare;
- status: positive (reads and a value at or above the LoQ), positive below
  quantification (reads, below the LoQ), negative (no read; reported with its LoD);
- replicates (libraries of one sample, `samples._replicate`): pooled for the status
  (reads, locus reads and cells summed), listed apart in the table.

In a set fused in molecules (`_counts: molecules`, every sample with UMIs), every
count above is of molecules (`count_unit`), and the MRD table names its columns so.

Dates and sample information come from the fused document's `samples.timestamp`,
`samples.info` and `samples.names`, the fields the reference Vidjil client reads."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, TypedDict

from .airr_format import locus_of
from .vidjil_format import clone_locus

MARKER_FRACTION = 0.05
# A clone seen in no read of a sample is below the detection limit: with 3 / N, a
# clone at that fraction has a 95% chance of at least one read among N (Poisson).
LOD_READS = 3
# From 10 reads the Poisson coefficient of variation (1 / sqrt(reads)) is at most 32%.
LOQ_READS = 10
# The same two rules applied to the cells sampled (cell equivalents of the DNA input).
LOD_CELLS = 3
LOQ_CELLS = 10
# DNA of one diploid human cell, in picograms (6.6 pg: 2 x 3.3 pg haploid genome).
PG_PER_CELL = 6.6

Status = Literal["positive", "positive-not-quantifiable", "negative"]
STATUS_LABEL: dict[str, str] = {
    "positive": "positive",
    "positive-not-quantifiable": "positive, below quantification",
    "negative": "negative",
}


class MarkerMRD(TypedDict):
    """One marker clone in one sample (or in the pooled replicates of a sample)."""

    top: int
    name: str
    locus: str
    reads: int
    locus_reads: int
    fraction: float
    cell_equivalents: float | None
    min_reads: int
    lod: float
    loq: float
    status: Status
    spike_copies: float | None


class SampleMRD(TypedDict):
    """One sample of the MRD summary; `pooled` rows sum the libraries of a replicate
    group (`libraries` names them)."""

    sample: str
    date: str | None
    days: int | None
    info: str
    replicate: str
    pooled: bool
    libraries: list[str]
    markers: list[MarkerMRD]


def count_unit(fused: dict[str, Any]) -> str:
    """What the counts of a fused set are: `molecules` when it was fused in molecules
    (every sample with UMIs), else `reads`."""
    return "molecules" if fused.get("_counts") == "molecules" else "reads"


COUNT_UNITS = ("reads", "molecules")


def count_columns(unit: str) -> tuple[str, str]:
    """The count columns of the MRD table in `unit`: (`reads`, `locus_reads`), or
    (`molecules`, `locus_molecules`) for a set fused in molecules."""
    return unit, f"locus_{unit}"


def table_counts(row: dict[str, Any]) -> tuple[Any, Any, str]:
    """(count, locus count, unit) of a row of an MRD table (`mrd_rows`, or the TSV
    read back), whichever unit names its columns."""
    for unit in COUNT_UNITS:
        count, locus = count_columns(unit)
        if count in row and locus in row:
            return row[count], row[locus], unit
    raise KeyError("no 'reads' and 'locus_reads' (or 'molecules' and 'locus_molecules') columns")


def per_sample(value: Any, n: int, default: Any = None) -> list[Any]:
    """A per-sample field as a list of `n` values (a scalar is one sample's value)."""
    values = value if isinstance(value, list) else [value]
    return [values[i] if i < len(values) and values[i] is not None else default for i in range(n)]


def sample_names(fused: dict[str, Any]) -> list[str]:
    """Sample names: `samples.names` (the sample sheet's), else the input names."""
    n = len(fused["reads"]["segmented"])
    samples = fused.get("samples", {})
    names = per_sample(samples.get("names"), n, "")
    originals = per_sample(samples.get("original_names"), n, "")
    pairs = enumerate(zip(names, originals, strict=True))
    return [str(name or original or f"sample {i + 1}") for i, (name, original) in pairs]


def _parse_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def sample_dates(fused: dict[str, Any]) -> list[str | None]:
    """Sample dates (YYYY-MM-DD) from `samples.timestamp`, None where absent."""
    n = len(fused["reads"]["segmented"])
    stamps = per_sample(fused.get("samples", {}).get("timestamp"), n, None)
    return [parsed.isoformat() if (parsed := _parse_date(s)) else None for s in stamps]


def days_since_first(dates: list[str | None]) -> list[int | None]:
    """Days since the first dated sample (in sample order), None for undated samples."""
    parsed = [_parse_date(d) if d else None for d in dates]
    first = next((d for d in parsed if d), None)
    return [(d - first).days if d and first else None for d in parsed]


def locus_reads(fused: dict[str, Any]) -> dict[str, list[int]]:
    """Detected reads per AIRR locus per sample (`reads.germline`, systems of one
    locus summed: IGH and IGH+ are IGH)."""
    n = len(fused["reads"]["segmented"])
    by_locus: dict[str, list[int]] = {}
    germline = fused["reads"].get("germline", {})
    for system, counts in germline.items() if isinstance(germline, dict) else ():
        totals = by_locus.setdefault(locus_of(system), [0] * n)
        for i, count in enumerate(per_sample(counts, n, 0)):
            totals[i] += int(count)
    return by_locus


def _locus_counts(fused: dict[str, Any], locus: str, by_locus: dict[str, list[int]]) -> list[int]:
    """The locus reads of a clone's locus; all detected reads when the document has
    no per-locus count for it."""
    if locus in by_locus:
        return by_locus[locus]
    n = len(fused["reads"]["segmented"])
    return [int(x) for x in per_sample(fused["reads"]["segmented"], n, 0)]


def is_spike(record: dict[str, Any], spike: str) -> bool:
    """Whether a clone is the spike-in of sequence (or window) `spike` (upper case)."""
    seq = str(record.get("sequence", "")).upper()
    return bool(seq) and (spike in seq or str(record.get("id", "")).upper() in spike)


def cell_equivalents(fused: dict[str, Any]) -> list[float | None]:
    """Cells analysed per sample (`samples._cell_equivalents`, from the DNA input),
    None where unknown."""
    n = len(fused["reads"]["segmented"])
    values = per_sample(fused.get("samples", {}).get("_cell_equivalents"), n, None)
    return [float(v) if isinstance(v, int | float) and v > 0 else None for v in values]


def cells_of_dna(dna_ng: float, pg_per_cell: float = PG_PER_CELL) -> float:
    """Cell equivalents of `dna_ng` nanograms of DNA."""
    return dna_ng * 1000 / pg_per_cell


def min_reads(fused: dict[str, Any]) -> list[int]:
    """The fewest reads of a clone each sample lists (`samples._min_reads`: detect's
    `-r`), 1 where unknown."""
    n = len(fused["reads"]["segmented"])
    values = per_sample(fused.get("samples", {}).get("_min_reads"), n, 1)
    return [int(v) if isinstance(v, int) and v > 0 else 1 for v in values]


def limits(locus_total: int, cells: float | None, listed_from: int = 1) -> tuple[float, float]:
    """(LoD, LoQ) of a sample with `locus_total` detected reads of the locus and
    `cells` cell equivalents (None: the reads alone), as fractions of the locus;
    `listed_from`: the fewest reads of a clone the sample lists."""
    if not locus_total:
        return 1.0, 1.0
    lod = max(LOD_READS, listed_from) / locus_total
    loq = max(LOQ_READS, listed_from) / locus_total
    if cells:
        lod, loq = max(lod, LOD_CELLS / cells), max(loq, LOQ_CELLS / cells)
    return min(lod, 1.0), min(loq, 1.0)


def status_of(reads: int, locus_total: int, cells: float | None) -> Status:
    """Positive when the value is at or above the LoQ (both its reads and its cells
    rules), positive below quantification with fewer, negative without reads."""
    if reads <= 0:
        return "negative"
    enough_cells = cells is None or reads / locus_total * cells >= LOQ_CELLS * (1 - 1e-9)
    return "positive" if reads >= LOQ_READS and enough_cells else "positive-not-quantifiable"


def diagnosis_sample(fused: dict[str, Any]) -> int:
    """The sample markers are chosen at (`_mrd.diagnosis`, else the first)."""
    value = (fused.get("_mrd") or {}).get("diagnosis")
    n = len(fused["reads"]["segmented"])
    return value if isinstance(value, int) and 0 <= value < n else 0


def threshold_markers(fused: dict[str, Any], diagnosis: int, fraction: float) -> list[dict[str, Any]]:
    """Clones with >= `fraction` of their locus's detected reads in sample
    `diagnosis`, by decreasing fraction (then rank); never the spike-in."""
    n = len(fused["reads"]["segmented"])
    by_locus = locus_reads(fused)
    spike = (fused.get("_mrd") or {}).get("spike")
    scored = []
    for clone in fused["clones"]:
        if spike and is_spike(clone, str(spike)):
            continue
        reads = int(per_sample(clone.get("reads"), n, 0)[diagnosis])
        total = _locus_counts(fused, clone_locus(clone), by_locus)[diagnosis]
        value = reads / total if total else 0.0
        if reads and value >= fraction:
            scored.append((-value, int(clone.get("top", 0)), clone))
    scored.sort(key=lambda item: item[:2])
    return [clone for _, _, clone in scored]


def marker_clones(fused: dict[str, Any]) -> list[dict[str, Any]]:
    """The marker clones: those `fuse` chose (`_mrd.markers`), else the clones of
    >= MARKER_FRACTION of their locus in the first sample."""
    chosen = (fused.get("_mrd") or {}).get("markers")
    if isinstance(chosen, list):
        by_top = {clone.get("top"): clone for clone in fused["clones"]}
        return [by_top[m["top"]] for m in chosen if isinstance(m, dict) and m.get("top") in by_top]
    return threshold_markers(fused, 0, MARKER_FRACTION)


def _marker(
    clone: dict[str, Any], locus: str, reads: int, total: int, cells: float | None, listed_from: int
) -> MarkerMRD:
    lod, loq = limits(total, cells, listed_from)
    return MarkerMRD(
        top=int(clone.get("top", 0)),
        name=str(clone.get("name") or clone.get("id", "")),
        locus=locus,
        reads=reads,
        locus_reads=total,
        fraction=reads / total if total else 0.0,
        cell_equivalents=cells,
        min_reads=listed_from,
        lod=lod,
        loq=loq,
        status=status_of(reads, total, cells),
        spike_copies=None,
    )


def marker_values(fused: dict[str, Any], clone: dict[str, Any]) -> list[MarkerMRD]:
    """A clone's MRD values in every sample."""
    n = len(fused["reads"]["segmented"])
    locus = clone_locus(clone)
    counts = _locus_counts(fused, locus, locus_reads(fused))
    spikes = per_sample((clone.get("_mrd") or {}).get("spike_normalised_copies"), n, None)
    values = []
    reads_cells = zip(per_sample(clone.get("reads"), n, 0), counts, cell_equivalents(fused), strict=True)
    for (reads, total, cells), spike, listed_from in zip(reads_cells, spikes, min_reads(fused), strict=True):
        value = _marker(clone, locus, int(reads), int(total), cells, listed_from)
        value["spike_copies"] = float(spike) if isinstance(spike, int | float) else None
        values.append(value)
    return values


def replicates(fused: dict[str, Any]) -> list[str]:
    """Replicate group of each sample ('' for none): `samples._replicate`."""
    n = len(fused["reads"]["segmented"])
    return [str(r or "") for r in per_sample(fused.get("samples", {}).get("_replicate"), n, "")]


def mrd_summary(fused: dict[str, Any], markers: list[dict[str, Any]] | None = None) -> list[SampleMRD]:
    """One row per sample (library), in sample order, with the values of the marker
    clones (`markers`: by default `marker_clones(fused)`)."""
    chosen = marker_clones(fused) if markers is None else markers
    per_clone = [marker_values(fused, clone) for clone in chosen]
    names = sample_names(fused)
    dates = sample_dates(fused)
    infos = per_sample(fused.get("samples", {}).get("info"), len(names), "")
    rows = zip(names, dates, days_since_first(dates), infos, replicates(fused), strict=True)
    return [
        SampleMRD(
            sample=name,
            date=when,
            days=days,
            info=str(info),
            replicate=replicate,
            pooled=False,
            libraries=[name],
            markers=[values[i] for values in per_clone],
        )
        for i, (name, when, days, info, replicate) in enumerate(rows)
    ]


def _pool(group: str, rows: list[SampleMRD]) -> SampleMRD:
    """The libraries of a replicate group as one sample: reads, locus reads and cells summed."""
    markers = []
    for values in zip(*(row["markers"] for row in rows), strict=True):
        first = values[0]
        cells = [v["cell_equivalents"] for v in values]
        total_cells = sum(c for c in cells if c is not None) if None not in cells else None
        reads = sum(v["reads"] for v in values)
        total = sum(v["locus_reads"] for v in values)
        # A clone with fewer than -r reads in every library is listed in none of them.
        listed_from = 1 + sum(v["min_reads"] - 1 for v in values)
        clone = {"top": first["top"], "name": first["name"]}
        pooled = _marker(clone, first["locus"], reads, total, total_cells, listed_from)
        copies = [v["spike_copies"] for v in values]
        pooled["spike_copies"] = sum(c for c in copies if c is not None) if None not in copies else None
        markers.append(pooled)
    return SampleMRD(
        sample=group,
        date=rows[0]["date"],
        days=rows[0]["days"],
        info="; ".join(dict.fromkeys(row["info"] for row in rows if row["info"])),
        replicate=group,
        pooled=True,
        libraries=[row["sample"] for row in rows],
        markers=markers,
    )


def _groups(summary: list[SampleMRD]) -> list[list[SampleMRD]]:
    """Rows grouped by replicate group, in the order of each group's first library."""
    groups: dict[str, list[SampleMRD]] = {}
    for k, row in enumerate(summary):
        groups.setdefault(row["replicate"] or f"\0{k}", []).append(row)
    return list(groups.values())


def clinical_summary(summary: list[SampleMRD]) -> list[SampleMRD]:
    """One row per sample with its replicates pooled: the rows a status, a trend or
    an alert is read from."""
    return [rows[0] if len(rows) == 1 else _pool(rows[0]["replicate"], rows) for rows in _groups(summary)]


def table_rows(summary: list[SampleMRD]) -> list[SampleMRD]:
    """Every library, each replicate group followed by its pooled row."""
    out: list[SampleMRD] = []
    for rows in _groups(summary):
        out += rows if len(rows) == 1 else [*rows, _pool(rows[0]["replicate"], rows)]
    return out


MRD_FIELDS = [
    "sample",
    "date",
    "marker",
    "marker_name",
    "locus",
    "reads",
    "locus_reads",
    "fraction",
    "cell_equivalents",
    "lod",
    "loq",
    "status",
]


def mrd_rows(fused: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The MRD table (`SET.mrd.tsv`): a row per sample and marker, each replicate
    group's libraries then its pooled row (`replicate` 'pooled'), with the spike-in
    column when the set has one. Counts are in the set's unit (`count_unit`), and so
    are their columns named: `reads` and `locus_reads`, or `molecules` and
    `locus_molecules` (`table_counts` reads either)."""
    rows = table_rows(mrd_summary(fused))
    replicated = any(row["replicate"] for row in rows)
    spiked = bool((fused.get("_mrd") or {}).get("spike"))
    # A set fused in molecules names its count columns so: `molecules`, `locus_molecules`.
    count, locus_count = count_columns(count_unit(fused))
    renamed = {"reads": count, "locus_reads": locus_count}
    fields = [renamed.get(f, f) for f in MRD_FIELDS]
    fields += (["replicate"] if replicated else []) + (["spike_normalised_copies"] if spiked else [])
    out = []
    for row in rows:
        for marker in row["markers"]:
            out.append(
                {
                    "sample": row["sample"],
                    "date": row["date"],
                    "marker": marker["top"],
                    "marker_name": marker["name"],
                    "locus": marker["locus"],
                    count: marker["reads"],
                    locus_count: marker["locus_reads"],
                    "fraction": marker["fraction"],
                    "cell_equivalents": round(marker["cell_equivalents"]) if marker["cell_equivalents"] else None,
                    "lod": marker["lod"],
                    "loq": marker["loq"],
                    "status": marker["status"],
                    "replicate": "pooled" if row["pooled"] else row["replicate"],
                    "spike_normalised_copies": marker["spike_copies"],
                }
            )
    return fields, out


def significant(value: float, digits: int = 2) -> str:
    """`value` with `digits` significant figures as a plain decimal (never
    scientific notation): 0.0053, 0.50, 20, 1200."""
    if value == 0:
        return "0"
    number = Decimal(repr(abs(value)))
    exponent = number.adjusted()
    rounded = number.quantize(Decimal(1).scaleb(exponent - digits + 1), rounding=ROUND_HALF_UP)
    if rounded.adjusted() > exponent:  # 9.96 -> 10.0: one figure less after the point
        rounded = rounded.quantize(Decimal(1).scaleb(exponent - digits + 2), rounding=ROUND_HALF_UP)
    text = f"{rounded:f}"
    return f"-{text}" if value < 0 else text


def format_percent(fraction: float) -> str:
    """A fraction as a percentage with two significant figures: '20%', '0.50%', '0.0053%'."""
    return f"{significant(100 * fraction)}%"


def status_text(marker: MarkerMRD) -> str:
    """The status in words; a negative says its detection limit: 'negative (< 0.0053%)'."""
    if marker["status"] != "negative":
        return STATUS_LABEL[marker["status"]]
    if not marker["locus_reads"]:
        return f"negative (no {marker['locus']} reads)"
    return f"negative (< {format_percent(marker['lod'])})"
