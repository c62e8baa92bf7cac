"""Plot data shared by the HTML report and the viewer: plain JSON-able data that
`vidjil/static/plots.js` draws with plotly.js (`VidjilPlots.curves`,
`VidjilPlots.heatmaps`, `VidjilPlots.spectratype`).

- `clone_curves(fused)`: the followed clones of a fused set over its samples, in %
  of their locus's detected reads (the MRD summary's values, `vidjil.mrd`) on a log
  axis, at the sample dates when the set has them; a clone without reads in a
  sample is drawn as a hollow point on its locus's detection limit in that sample
  (it is below the limit, not at 0%), drawn as a dashed line for the marker loci.
- `vj_usage(doc)`: per locus, reads by V gene x J gene with hover text.

Text handed to plotly is escaped: plotly renders a subset of HTML in labels."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from html import escape
from typing import Any

from .airr_format import segment_name
from .mrd import (
    LOD_READS,
    MarkerMRD,
    format_percent,
    marker_clones,
    marker_values,
    sample_dates,
    sample_names,
    significant,
)

CURVES = 20  # clones drawn in a clone-over-time plot (marker clones are added beyond)
LOWEST_PERCENT = 0.001  # the y axis spans 100% down to this at least

# 20 colours for clone curves, each with a contrast >= 3:1 on white (WCAG non-text)
# and at least 33 CIE76 units from each other and from black (the detection limit);
# picked by a greedy max-min search from red, blue and green; the first ones (given to
# marker clones) are the most distinct.
PALETTE = (
    "#d62728",
    "#1f5fbf",
    "#1a7f37",
    "#bb8800",
    "#6600aa",
    "#0099bb",
    "#ff00ff",
    "#663300",
    "#aa1177",
    "#00aa00",
    "#0000ff",
    "#888844",
    "#bb77ee",
    "#335544",
    "#ff2277",
    "#114466",
    "#aa8888",
    "#663355",
    "#ff00bb",
    "#bb5555",
)
LOD_COLOR = "#222222"
MARKER_FLAG = "★"


def script_json(value: Any) -> str:
    """Plot data as JSON safe inside a `<script type="application/json">` element."""
    return json.dumps(value).replace("</", "<\\/")


def format_reads(reads: int) -> str:
    return f"{reads:,} read{'' if reads == 1 else 's'}"


# Clones over time.


def curve_dates(fused: dict[str, Any]) -> list[date] | None:
    """The sample dates (`samples.timestamp`) when every sample has one and they
    increase, else None (x at sample positions: samples ordered by something else
    than their date would make a curve go back in time)."""
    stamps = sample_dates(fused)
    if any(s is None for s in stamps):
        return None
    dates = [date.fromisoformat(str(s)) for s in stamps]
    if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
        return None
    return dates


def _short_name(clone: dict[str, Any]) -> str:
    """V and J genes (without allele) for the legend, else the clone's name."""
    seg = clone.get("seg") or {}
    genes = [name.split("*")[0] for name in (segment_name(seg, k) for k in ("5", "3")) if name]
    name = " / ".join(genes) if genes else str(clone.get("name", clone["id"]))
    return name if len(name) <= 32 else name[:31] + "…"


def _marker_tops(fused: dict[str, Any], markers: Iterable[dict[str, Any] | int] | None) -> list[int]:
    if markers is None:
        markers = marker_clones(fused)
    return [int(m["top"]) if isinstance(m, dict) else int(m) for m in markers]


def curve_clones(fused: dict[str, Any], markers: Sequence[int], count: int = CURVES) -> list[dict[str, Any]]:
    """The clones drawn: marker clones first (in the given order), then the first
    `count` followed clones."""
    by_top = {int(c["top"]): c for c in fused["clones"]}
    chosen = [by_top[t] for t in markers if t in by_top]
    chosen += [c for c in fused["clones"][:count] if int(c["top"]) not in markers]
    return chosen


def _curve(
    clone: dict[str, Any],
    x: list[Any],
    labels: list[str],
    values: list[MarkerMRD],
    color: str,
    marker: bool,
) -> dict[str, Any]:
    top = int(clone["top"])
    legend = f"{MARKER_FLAG} " if marker else ""
    legend += f"#{top} {_short_name(clone)}"
    title = f"<b>{'marker clone ' if marker else ''}#{top}</b> {escape(str(clone.get('name', clone['id'])))}"
    junction = ((clone.get("seg") or {}).get("junction") or {}).get("aa")
    if junction:
        title += f"<br>junction {escape(str(junction))}"
    y: list[float | None] = []
    symbols, hover = [], []
    for value, label in zip(values, labels, strict=True):
        reads, locus = value["reads"], escape(value["locus"])
        if reads:
            y.append(100 * value["fraction"])
            symbols.append("circle")
            hover.append(
                f"{title}<br>{label}: {format_reads(reads)}, {format_percent(value['fraction'])} of {locus} reads"
            )
        elif value["locus_reads"]:
            y.append(100 * value["lod"])
            symbols.append("circle-open")
            hover.append(f"{title}<br>{label}: 0 reads (< {format_percent(value['lod'])}, below the detection limit)")
        else:
            y.append(None)
            symbols.append("circle-open")
            hover.append(f"{title}<br>{label}: no {locus} read detected in the sample")
    width = 3 if marker else 1.5
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "x": x,
        "y": y,
        "name": escape(legend),
        "text": hover,
        "hovertemplate": "%{text}<extra></extra>",
        "customdata": [top] * len(x),
        "line": {"color": color, "width": width},
        "marker": {
            "color": color,
            "size": 10 if marker else 7,
            "symbol": symbols,
            "line": {"color": color, "width": 2},
        },
        "meta": {"top": top, "marker": marker, "width": width},
    }


def _lod_curve(x: list[Any], values: list[MarkerMRD]) -> dict[str, Any]:
    """The dashed detection limit of a locus. Not hoverable: the hollow points of
    that locus's clones lie on it and their hover says the limit."""
    return {
        "type": "scatter",
        "mode": "lines",
        "x": x,
        "y": [100 * v["lod"] if v["locus_reads"] else None for v in values],
        "name": f"{escape(values[0]['locus'])} detection limit ({LOD_READS} reads)",
        "hoverinfo": "skip",
        "line": {"color": LOD_COLOR, "width": 1.5, "dash": "dash"},
        "meta": {"top": None, "marker": False, "width": 1.5, "limit": True},
    }


def _y_axis(values: Iterable[float | None]) -> dict[str, Any]:
    """Log axis in %, from 100% down to 0.001% or the lowest value drawn."""
    lowest = min([v for v in values if v is not None and v > 0] + [LOWEST_PERCENT])
    bottom = math.floor(math.log10(lowest))
    ticks = [10.0**k for k in range(2, bottom - 1, -1)]
    return {
        "title": {"text": "% of the locus's detected reads (log scale)"},
        "type": "log",
        "range": [math.log10(lowest) - 0.15, 2.1],
        "tickvals": ticks,
        "ticktext": [f"{significant(t, 1)}%" for t in ticks],
        "gridcolor": "#e4e4e4",
        "zeroline": False,
    }


def _x_axis(x: list[Any], ticks: list[str], dates: list[date] | None) -> dict[str, Any]:
    if dates:
        pad = max(timedelta(days=2), (dates[-1] - dates[0]) * 0.06)
        return {
            # Two-line tick labels (name, date): the title below them, never across.
            "title": {"text": "sample date", "standoff": 10},
            "automargin": True,
            "type": "date",
            "range": [(dates[0] - pad).isoformat(), (dates[-1] + pad).isoformat()],
            "tickvals": x,
            "ticktext": ticks,
            "showgrid": False,
        }
    return {
        "title": {"text": "sample", "standoff": 10},
        "automargin": True,
        "type": "linear",
        "range": [-0.3, len(x) - 0.7],
        "tickvals": x,
        "ticktext": ticks,
        "showgrid": False,
        "zeroline": False,
    }


def clone_curves(
    fused: dict[str, Any], markers: Iterable[dict[str, Any] | int] | None = None, count: int = CURVES
) -> dict[str, Any]:
    """The followed clones of a fused set over its samples, for `VidjilPlots.curves`:
    {"traces": [...], "layout": {...}}. Marker clones (clone dicts or their `top`;
    default: `vidjil.mrd.marker_clones`) come first, emphasised and flagged with ★,
    then the first `count` followed clones, then the dashed detection limit. Each
    clone trace has `meta` = {top, marker, width} and `customdata` = its top."""
    tops = _marker_tops(fused, markers)
    names = sample_names(fused)
    dates = curve_dates(fused)
    x: list[Any] = [d.isoformat() for d in dates] if dates else list(range(len(names)))
    shown = [escape(n) for n in names]
    labels = [f"{n} ({d})" for n, d in zip(shown, x, strict=True)] if dates else shown
    ticks = [f"{n}<br>{d}" for n, d in zip(shown, x, strict=True)] if dates else shown
    drawn = curve_clones(fused, tops, count)
    values = [marker_values(fused, clone) for clone in drawn]
    traces = [
        _curve(clone, x, labels, v, PALETTE[k % len(PALETTE)], int(clone["top"]) in tops)
        for k, (clone, v) in enumerate(zip(drawn, values, strict=True))
    ]
    # The limit of each marker locus (of the first clone's without markers).
    limits: dict[str, list[MarkerMRD]] = {}
    for clone, v in zip(drawn, values, strict=True):
        if v and (int(clone["top"]) in tops or not tops):
            limits.setdefault(v[0]["locus"], v)
    traces += [_lod_curve(x, v) for v in list(limits.values())[: len(tops) or 1]]
    layout = {
        "xaxis": _x_axis(x, ticks, dates),
        "yaxis": _y_axis(v for t in traces for v in t["y"]),
        "hovermode": "closest",
        "hoverlabel": {"align": "left"},
        "showlegend": True,
        "legend": {"title": {"text": f"clones ({MARKER_FLAG} marker)"}, "font": {"size": 11}},
        "margin": {"t": 20, "r": 10},
        "plot_bgcolor": "#ffffff",
    }
    return {"traces": traces, "layout": layout}


# V x J usage.


def _vj_genes(clone: dict[str, Any]) -> tuple[str, str] | None:
    seg = clone.get("seg") or {}
    v, j = segment_name(seg, "5"), segment_name(seg, "3")
    return (v.split("*")[0], j.split("*")[0]) if v and j else None


def vj_usage(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per locus (the clones' `germline`), reads over all samples of the document
    by V gene (y, rows) x J gene (x, columns) of the designated clones, for
    `VidjilPlots.heatmaps`: {locus: {locus, x, y, z, text, total, locus_reads}};
    `text[i][j]` is the hover text (reads and % of the locus's detected reads, which
    are `reads.germline[locus]` summed over samples, else the reads of the grid)."""
    usage: dict[str, dict[tuple[str, str], int]] = {}
    for clone in doc["clones"]:
        genes = _vj_genes(clone)
        if genes:
            counts = usage.setdefault(str(clone.get("germline", "")), {})
            counts[genes] = counts.get(genes, 0) + sum(clone["reads"])
    germline = doc.get("reads", {}).get("germline", {})
    grids = {}
    for locus, counts in sorted(usage.items()):
        vs, js = sorted({v for v, _ in counts}), sorted({j for _, j in counts})
        z = [[counts.get((v, j), 0) for j in js] for v in vs]
        total = sum(counts.values())
        locus_reads = sum(germline.get(locus, [])) or total
        text = [
            [f"{format_reads(reads)}, {format_percent(reads / locus_reads)} of {escape(locus)} reads" for reads in row]
            for row in z
        ]
        grids[locus] = {
            "locus": locus,
            "x": js,
            "y": vs,
            "z": z,
            "text": text,
            "total": total,
            "locus_reads": locus_reads,
        }
    return grids
