"""Minimal residual disease (MRD) of a fused set: the marker clones, their value in
every sample as a fraction of their locus's detected reads, and a status.

Rule (the README's "MRD: detection, quantification and status" says it in words):

- marker clones: the followed clones with at least `MARKER_FRACTION` of the
  detected reads of the first sample (the diagnosis), by decreasing fraction: the
  dominant clones, not every clone of a locus that has few;
- value: reads of the clone / detected reads of its locus in the sample (a TRG
  clone is not diluted by the IGH reads of a multi-locus run);
- limit of detection (LoD): `LOD_READS` / locus reads. A clone at that fraction has
  a 95% chance of at least one read among the locus reads (Poisson: P(0) = e^-3 = 5%),
  so a clone without reads is reported as "< LoD", not as 0%;
- limit of quantification (LoQ): `LOQ_READS` / locus reads. Below 10 reads the
  Poisson sampling error alone (coefficient of variation 1/sqrt(reads)) is above
  32%, too large to report a number that follow-up decisions compare;
- status: positive (>= LOQ_READS reads), positive below quantification (1 to
  LOQ_READS - 1 reads), negative (no read; reported with its LoD).

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

Status = Literal["positive", "positive-not-quantifiable", "negative"]
STATUS_LABEL: dict[str, str] = {
    "positive": "positive",
    "positive-not-quantifiable": "positive, below quantification",
    "negative": "negative",
}


class MarkerMRD(TypedDict):
    """One marker clone in one sample."""

    top: int
    name: str
    locus: str
    reads: int
    locus_reads: int
    fraction: float
    lod: float
    loq: float
    status: Status
    spike_copies: float | None


class SampleMRD(TypedDict):
    """One sample of the MRD summary."""

    sample: str
    date: str | None
    days: int | None
    info: str
    markers: list[MarkerMRD]


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


def marker_clones(fused: dict[str, Any]) -> list[dict[str, Any]]:
    """Followed clones with >= MARKER_FRACTION of the first sample's detected reads,
    by decreasing fraction (then rank); never the spike-in."""
    detected = int(per_sample(fused["reads"]["segmented"], 1, 0)[0])
    spike = (fused.get("_mrd") or {}).get("spike")
    scored = []
    for clone in fused["clones"]:
        if spike and is_spike(clone, str(spike)):
            continue
        first_reads = int(per_sample(clone.get("reads"), 1, 0)[0])
        fraction = first_reads / detected if detected else 0.0
        if fraction >= MARKER_FRACTION:
            scored.append((-fraction, int(clone.get("top", 0)), clone))
    scored.sort(key=lambda item: item[:2])
    return [clone for _, _, clone in scored]


def _status(reads: int) -> Status:
    if reads >= LOQ_READS:
        return "positive"
    return "positive-not-quantifiable" if reads > 0 else "negative"


def marker_values(fused: dict[str, Any], clone: dict[str, Any]) -> list[MarkerMRD]:
    """A clone's MRD values in every sample."""
    n = len(fused["reads"]["segmented"])
    locus = clone_locus(clone)
    counts = _locus_counts(fused, locus, locus_reads(fused))
    spikes = per_sample((clone.get("_mrd") or {}).get("spike_normalised_copies"), n, None)
    values = []
    for reads, total, spike in zip(per_sample(clone.get("reads"), n, 0), counts, spikes, strict=True):
        reads = int(reads)
        values.append(
            MarkerMRD(
                top=int(clone.get("top", 0)),
                name=str(clone.get("name") or clone.get("id", "")),
                locus=locus,
                reads=reads,
                locus_reads=total,
                fraction=reads / total if total else 0.0,
                lod=LOD_READS / total if total else 1.0,
                loq=LOQ_READS / total if total else 1.0,
                status=_status(reads),
                spike_copies=float(spike) if isinstance(spike, int | float) else None,
            )
        )
    return values


def mrd_summary(fused: dict[str, Any], markers: list[dict[str, Any]] | None = None) -> list[SampleMRD]:
    """One row per sample, in sample order, with the values of the marker clones
    (`markers`: by default `marker_clones(fused)`)."""
    chosen = marker_clones(fused) if markers is None else markers
    per_clone = [marker_values(fused, clone) for clone in chosen]
    names = sample_names(fused)
    dates = sample_dates(fused)
    infos = per_sample(fused.get("samples", {}).get("info"), len(names), "")
    return [
        SampleMRD(
            sample=name,
            date=when,
            days=days,
            info=str(info),
            markers=[values[i] for values in per_clone],
        )
        for i, (name, when, days, info) in enumerate(zip(names, dates, days_since_first(dates), infos, strict=True))
    ]


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
