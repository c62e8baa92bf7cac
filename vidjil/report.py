"""`vidjil report`: one self-contained HTML page for a fused sample set (plotly is
embedded from the installed package: the page opens offline). Clones over time
(log scale, detection limit drawn), the followed clones with their designation and
values in every sample, per-sample QC (read funnel, undetected reasons, warnings),
V x J usage per locus and diversity. Every value from the data is escaped."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from .errors import UserError
from .plots import clone_curves, percent, vj_usage
from .vidjil_format import read_vidjil

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.l,th.l{text-align:left}"
    ".below{color:#888}.plot{width:100%;height:28em}"
)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value).replace("</", "<\\/")


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    """`rows` cells are already escaped HTML; the first `left` columns align left."""

    def cell(tag: str, k: int, value: str) -> str:
        return f"<{tag}{' class=l' if k < left else ''}>{value}</{tag}>"

    head = "".join(cell("th", k, escape(h)) for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", k, v) for k, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _qc(doc: dict[str, Any], names: list[str]) -> str:
    reads = doc["reads"]
    systems = sorted(reads.get("germline", {}))
    undetected = reads.get("_undetected", [{}] * len(names))
    reasons = sorted({k for u in undetected if isinstance(u, dict) for k in u})
    rows = []
    for i, name in enumerate(names):
        total, detected = reads["total"][i], reads["segmented"][i]
        row = [escape(name), str(total), f"{detected} ({percent(detected / total if total else 0)})"]
        row += [str(reads["germline"][s][i]) for s in systems]
        row += [str(undetected[i].get(r, 0)) if isinstance(undetected[i], dict) else "" for r in reasons]
        rows.append(row)
    header = ["sample", "reads", "detected", *systems, *(f"undetected: {r}" for r in reasons)]
    warnings = []
    for name, warns in zip(names, doc.get("_warn_samples", [[]] * len(names)), strict=False):
        warnings += [f"<li>{escape(name)}: {escape(w.get('code', ''))} {escape(w.get('msg', ''))}</li>" for w in warns]
    listed = f"<ul>{''.join(warnings)}</ul>" if warnings else "<p>No sample warning.</p>"
    return "<h2>Samples: read funnel and quality</h2>" + _table(header, rows) + listed


def _clone_table(doc: dict[str, Any], names: list[str]) -> str:
    rows = []
    for clone in doc["clones"]:
        seg = clone.get("seg", {})
        junction = seg.get("junction", {})
        productive = "" if not junction else ("yes" if junction.get("productive") else "no")
        cells = []
        for r, f, lod in zip(
            clone["reads"],
            clone["_mrd"]["fraction_detected"],
            clone["_mrd"]["limit_of_detection"],
            strict=True,
        ):
            cells.append(f"{r} ({percent(f)})" if r else f"<span class=below>0 (&lt; {percent(lod)})</span>")
        warns = " ".join(escape(w.get("code", "")) for w in clone.get("warn", []))
        rows.append(
            [
                str(clone["top"]),
                escape(str(clone.get("name", clone["id"]))),
                escape(str(clone.get("germline", ""))),
                escape(str(junction.get("aa", ""))),
                productive,
                *cells,
                warns,
            ]
        )
    header = ["#", "clone", "system", "junction (aa)", "productive", *names, "warnings"]
    return "<h2>Followed clones</h2>" + _table(header, rows, left=5)


def _diversity(doc: dict[str, Any], names: list[str]) -> str:
    rows = []
    indices = ["clones", "reads", "shannon", "evenness", "simpson", "clonality", "chao1"]
    for name, by_system in zip(names, doc["diversity"].get("_by_system", []), strict=False):
        for locus, d in sorted(by_system.items()):
            rows.append([escape(name), escape(locus), *(f"{d.get(k, 0):.4g}" for k in indices)])
    table = _table(["sample", "locus", *indices], rows, left=2)
    pairs = [
        [
            escape(names[p["samples"][0]]),
            escape(names[p["samples"][1]]),
            f"{p['morisita_horn']:.4f}",
            f"{p['jaccard']:.4f}",
        ]
        for p in doc["diversity"].get("_overlap", [])
    ]
    overlap = _table(["sample", "sample", "Morisita-Horn", "Jaccard"], pairs, left=2)
    return "<h2>Diversity</h2>" + table + "<h3>Overlap between samples</h3>" + overlap


def render(doc: dict[str, Any], title: str) -> str:
    from plotly.offline import get_plotlyjs

    names = [str(n) for n in doc["samples"]["original_names"]]
    heatmaps = vj_usage(doc)
    plots = {"curves": clone_curves(doc), "heatmaps": heatmaps}
    heatmap_divs = "".join(
        f"<h3>{escape(locus)}</h3><div class=plot id='vj-{k}'></div>" for k, locus in enumerate(heatmaps)
    )
    script = (
        "const data = JSON.parse(document.getElementById('report-data').textContent);"
        "Plotly.newPlot('curves', data.curves, {yaxis: {type: 'log', title: 'fraction of detected reads'},"
        " hovermode: 'closest', margin: {t: 10}});"
        "Object.keys(data.heatmaps).forEach((locus, k) => Plotly.newPlot('vj-' + k, [data.heatmaps[locus]],"
        " {xaxis: {title: 'J'}, yaxis: {title: 'V', automargin: true}, margin: {t: 10}}));"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>{len(names)} samples, {len(doc['clones'])} followed clones (top {doc.get('_fuse', {}).get('top', '?')}"
        " of some sample). A clone without reads in a sample is below its detection limit"
        f" ({doc.get('_mrd', {}).get('limit_of_detection_reads', 3)} / detected reads), not at 0%.</p>"
        "<h2>Clones over time</h2><div class=plot id=curves></div>"
        + _clone_table(doc, names)
        + _qc(doc, names)
        + "<h2>V x J usage of the followed clones</h2>"
        + heatmap_divs
        + _diversity(doc, names)
        + f"<script type='application/json' id='report-data'>{_script_json(plots)}</script>"
        f"<script>{script}</script></body></html>\n"
    )


def run_report(fused: Path, output: Path, title: str | None = None) -> None:
    from .atomic import atomic_outputs

    doc = read_vidjil(fused)
    if not doc["clones"] or "_mrd" not in doc["clones"][0]:
        if doc["clones"]:
            raise UserError(f"{fused}: not a fused set (no MRD values): make it with `vidjil fuse`")
    page = render(doc, title or fused.name)
    try:
        with atomic_outputs() as outputs:
            outputs.write(output, lambda h: print(page, end="", file=h))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
