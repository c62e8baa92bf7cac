"""Follow-up alerts of a fused set: what a clinician should look at, written as
warnings of the clones in the fused `.vidjil` and as a TSV.

- W90: a marker rising by 1 log (10x) or more between consecutive samples where it
  has reads;
- W91: a marker detected after a negative sample (molecular relapse, or a
  contamination to rule out);
- W92: a marker quantifiable in a sample and no longer in the next one, whose limit
  of quantification is above the marker's previous value: the sample is not
  sensitive enough to tell whether the clone fell (more DNA or deeper sequencing);
- W93: a clone of >= `new_clone_fraction` of its locus in a sample, absent from the
  diagnosis (clonal evolution, or a second malignancy).

Marker alerts read the samples with their replicates pooled (`clinical_summary`)."""

from __future__ import annotations

from typing import Any, TypedDict

from .markers import v_j
from .mrd import (
    MARKER_FRACTION,
    MarkerMRD,
    SampleMRD,
    clinical_summary,
    diagnosis_sample,
    format_percent,
    is_spike,
    marker_values,
    mrd_summary,
    replicates,
    sample_names,
)
from .vidjil_format import W_MRD_NOT_SENSITIVE, W_MRD_RETURNS, W_MRD_RISING, W_NEW_CLONE

ALERT_FIELDS = ["sample", "clone", "code", "message"]


class Alert(TypedDict):
    sample: str
    clone: int
    code: str
    message: str


def clone_label(clone: dict[str, Any]) -> str:
    """'clone 3 (IGHV3-23 / IGHJ4)': its V and J genes, else its designation."""
    v, j = v_j(clone)
    genes = f"{v} / {j}" if v and j else str(clone.get("name") or "")
    return f"clone {clone.get('top')}" + (f" ({genes})" if genes else "")


def _marker_alert(marker: MarkerMRD, before: SampleMRD, now: SampleMRD, previous: MarkerMRD) -> Alert | None:
    value = format_percent(marker["fraction"])
    where = f"{value} in {now['sample']}"
    if previous["status"] == "negative" and marker["reads"]:
        text = f"detected again: {where}, negative in {before['sample']} (< {format_percent(previous['lod'])})"
        return Alert(sample=now["sample"], clone=marker["top"], code=W_MRD_RETURNS, message=text)
    if previous["reads"] and marker["reads"] and marker["fraction"] >= 10 * previous["fraction"]:
        fold = marker["fraction"] / previous["fraction"]
        text = f"rising {fold:.0f}x: {format_percent(previous['fraction'])} in {before['sample']}, {where}"
        return Alert(sample=now["sample"], clone=marker["top"], code=W_MRD_RISING, message=text)
    if previous["status"] == "positive" and marker["status"] != "positive" and marker["loq"] > previous["fraction"]:
        text = (
            f"not quantifiable in {now['sample']}: its limit of quantification"
            f" ({format_percent(marker['loq'])}) is above the value in {before['sample']}"
            f" ({format_percent(previous['fraction'])}); more DNA or more reads are needed to follow it"
        )
        return Alert(sample=now["sample"], clone=marker["top"], code=W_MRD_NOT_SENSITIVE, message=text)
    return None


def marker_alerts(fused: dict[str, Any], markers: list[dict[str, Any]]) -> list[Alert]:
    """W90, W91 and W92 of the markers between consecutive samples."""
    rows = clinical_summary(mrd_summary(fused, markers))
    alerts = []
    for k, clone in enumerate(markers):
        for before, now in zip(rows, rows[1:], strict=False):
            alert = _marker_alert(now["markers"][k], before, now, before["markers"][k])
            if alert:
                alert["message"] = f"{clone_label(clone)}: {alert['message']}"
                alerts.append(alert)
    return alerts


def new_clone_alerts(fused: dict[str, Any], markers: list[dict[str, Any]], fraction: float) -> list[Alert]:
    """W93: clones of >= `fraction` of their locus in a sample and without reads in
    the diagnosis (all its replicates), at the first sample where they are."""
    diagnosis = diagnosis_sample(fused)
    groups = replicates(fused)
    at_diagnosis = [i for i, g in enumerate(groups) if i == diagnosis or (g and g == groups[diagnosis])]
    names = sample_names(fused)
    spike = (fused.get("_mrd") or {}).get("spike")
    chosen = {clone.get("top") for clone in markers}
    alerts = []
    for clone in fused["clones"]:
        if clone.get("top") in chosen or (spike and is_spike(clone, str(spike))):
            continue
        values = marker_values(fused, clone)
        if any(values[i]["reads"] for i in at_diagnosis):
            continue
        large = next((i for i, v in enumerate(values) if i not in at_diagnosis and v["fraction"] >= fraction), None)
        if large is not None:
            value = values[large]
            text = (
                f"{clone_label(clone)}: new clone, {format_percent(value['fraction'])} of {value['locus']}"
                f" in {names[large]}, absent at diagnosis ({names[diagnosis]})"
            )
            alerts.append(Alert(sample=names[large], clone=value["top"], code=W_NEW_CLONE, message=text))
    return alerts


def follow_up_alerts(
    fused: dict[str, Any], markers: list[dict[str, Any]], new_clone_fraction: float = MARKER_FRACTION
) -> list[Alert]:
    """Every alert of a fused set, markers first, in sample order within each clone."""
    return marker_alerts(fused, markers) + new_clone_alerts(fused, markers, new_clone_fraction)


def alert_rows(fused: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The alerts table (`SET.alerts.tsv`) of a fused document."""
    alerts = (fused.get("_mrd") or {}).get("alerts") or []
    return ALERT_FIELDS, [a for a in alerts if isinstance(a, dict)]
