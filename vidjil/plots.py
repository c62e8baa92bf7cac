"""Plot data shared by the HTML report and the viewer (plotly traces as plain
data): clones over time of a fused set, and V x J usage per locus."""

from __future__ import annotations

from typing import Any

CURVES = 20  # clones drawn in a clone-over-time plot


def percent(fraction: float) -> str:
    return f"{100 * fraction:.4g}%"


def clone_curves(fused: dict[str, Any], count: int = CURVES) -> list[dict[str, Any]]:
    """The first `count` followed clones over the samples (fraction of detected
    reads; no point where a clone has no read), then the detection limit."""
    names = [str(n) for n in fused["samples"]["original_names"]]
    segmented = fused["reads"]["segmented"]
    traces = []
    for clone in fused["clones"][:count]:
        mrd = clone.get("_mrd", {})
        fractions = mrd.get("fraction_detected") or [
            r / s if s else 0.0 for r, s in zip(clone["reads"], segmented, strict=True)
        ]
        lods = mrd.get("limit_of_detection") or [0.0] * len(names)
        label = f"{clone['top']}. {clone.get('name', clone['id'])}"
        junction = clone.get("seg", {}).get("junction", {}).get("aa", "")
        hover = [
            f"{label}<br>{junction}<br>{r} reads, {percent(f)}" if r else f"{label}<br>0 reads (< {percent(lod)})"
            for r, f, lod in zip(clone["reads"], fractions, lods, strict=True)
        ]
        traces.append(
            {
                "x": names,
                "y": [f if f > 0 else None for f in fractions],
                "name": label[:60],
                "mode": "lines+markers",
                "text": hover,
                "hoverinfo": "text",
                "customdata": [clone["top"]] * len(names),
            }
        )
    if fused["clones"] and "_mrd" in fused["clones"][0]:
        traces.append(
            {
                "x": names,
                "y": fused["clones"][0]["_mrd"]["limit_of_detection"],
                "name": "detection limit",
                "mode": "lines",
                "line": {"dash": "dash", "color": "black"},
                "hoverinfo": "y+name",
            }
        )
    return traces


def vj_usage(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per locus, reads (over all samples of the document) by V gene x J gene of
    the designated clones, as a plotly heatmap."""
    usage: dict[str, dict[tuple[str, str], int]] = {}
    for clone in doc["clones"]:
        seg = clone.get("seg", {})
        if "5" not in seg or "3" not in seg:
            continue
        v, j = (seg[k]["name"].split("*")[0] for k in ("5", "3"))
        counts = usage.setdefault(str(clone.get("germline", "")), {})
        counts[(v, j)] = counts.get((v, j), 0) + sum(clone["reads"])
    heatmaps = {}
    for locus, counts in sorted(usage.items()):
        vs, js = sorted({v for v, _ in counts}), sorted({j for _, j in counts})
        z = [[counts.get((v, j), 0) for j in js] for v in vs]
        heatmaps[locus] = {"z": z, "x": js, "y": vs, "type": "heatmap", "colorscale": "Blues"}
    return heatmaps
