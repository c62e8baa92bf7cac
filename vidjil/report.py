"""`vidjil report`: one self-contained HTML page for a fused sample set (plotly and
`static/plots.js` are embedded from the installed package: the page opens offline).

From the top: where the numbers come from (set, samples with dates and info, tool,
germline, analysis, time), the MRD summary of the marker clones (`vidjil.mrd`),
clones over time, the followed clones in every sample, per-sample QC (read
funnel, undetected reasons, warnings), V x J usage per locus and diversity.

Files fused elsewhere (the reference Vidjil's) are read as they are: what our
`fuse` adds (`_mrd`, `_set`, sample dates) is computed or left out. Every value
from the data is escaped; numbers are written by `_number`/`format_percent`, never
in scientific notation."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from . import __version__
from .airr_format import segment_name
from .errors import UserError
from .markers import at_diagnosis_column, marker_rows
from .mrd import (
    LOD_CELLS,
    LOD_READS,
    LOQ_CELLS,
    LOQ_READS,
    MARKER_FRACTION,
    MarkerMRD,
    SampleMRD,
    count_unit,
    format_percent,
    marker_clones,
    marker_values,
    mrd_summary,
    per_sample,
    sample_names,
    significant,
    status_text,
    table_rows,
)
from .plots import clone_curves, script_json, vj_usage
from .vidjil_format import clone_locus, read_vidjil, undetected_in_words

# Text colours keep a contrast of at least 4.5:1 on white (#555: 7.5:1).
STYLE = """
body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:1em auto;padding:0 1em;max-width:80em}
h1{font-size:1.6em;margin:.3em 0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
a{color:#0645ad}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #bbb;padding:2px 6px;text-align:right;white-space:nowrap}
td.l,th.l{text-align:left}th{background:#f2f2f2}
.note{color:#555}.below{color:#555}
.provenance dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:.5em 0}
.provenance dt{font-weight:bold}.provenance dd{margin:0}
#mrd-summary thead th{white-space:normal;vertical-align:bottom}#mrd-summary th[scope=colgroup]{white-space:nowrap}
#mrd-summary .positive{color:#a40000;font-weight:bold}
#mrd-summary .positive-not-quantifiable{color:#8a4b00}
#mrd-summary .negative{color:#1a5e20}
#mrd-summary tr.pooled th,#mrd-summary tr.pooled td{border-top:2px solid #888;font-weight:bold}
ul.alerts li{margin:.3em 0;padding:.2em .4em;border-left:4px solid #a40000;background:#fdf0f0;list-style:none}
tr.highlight td,tr.highlight th{background:#fff3b0}
.plot{width:100%;min-height:26em}
button{font:inherit}
"""

# Page behaviour: plots.js dispatches `vidjil:clone` and `vidjil:vj` on document.
GLUE = """
(function () {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const rows = Array.from(document.querySelectorAll('#clones tbody tr'));
  const status = document.getElementById('clone-filter');
  const clear = document.getElementById('clone-filter-clear');
  function highlight(row) {
    rows.forEach(r => r.classList.toggle('highlight', r === row));
    if (row) { row.scrollIntoView({block: 'center'}); }
  }
  function showAll() {
    rows.forEach(r => { r.hidden = false; });
    status.textContent = '';
    clear.hidden = true;
  }
  document.addEventListener('vidjil:clone', e => {
    showAll();
    highlight(document.getElementById('clone-' + e.detail.top));
  });
  document.addEventListener('vidjil:vj', e => {
    const d = e.detail;
    let shown = 0;
    rows.forEach(r => {
      r.hidden = !(r.dataset.germline === d.locus && r.dataset.v === d.v && r.dataset.j === d.j);
      if (!r.hidden) { shown += 1; }
    });
    status.textContent = shown + ' followed clone(s) of ' + d.locus + ' with ' + d.v + ' and ' + d.j + '.';
    clear.hidden = false;
    highlight(rows.find(r => !r.hidden) || null);
  });
  clear.addEventListener('click', () => { showAll(); highlight(null); });
  VidjilPlots.curves(document.getElementById('curves'), data.curves);
  VidjilPlots.heatmaps(document.getElementById('heatmaps'), data.heatmaps, {});
})();
"""


def _number(value: float) -> str:
    """A number for people: integers with thousands separators, others with four
    significant figures; never scientific notation."""
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return significant(value, 4)


def _row(cells: list[str], left: int = 1) -> str:
    """A row of escaped HTML cells; the first `left` cells align left."""
    return "<tr>" + "".join(f"<td{' class=l' if k < left else ''}>{c}</td>" for k, c in enumerate(cells)) + "</tr>"


def _table(header: list[str], rows: list[list[str]], left: int = 1, table_id: str = "") -> str:
    """A table in a box that scrolls horizontally; `rows` cells are escaped HTML."""
    head = "".join(f"<th{' class=l' if k < left else ''}>{escape(h)}</th>" for k, h in enumerate(header))
    body = "".join(_row(r, left) for r in rows)
    ident = f" id={table_id}" if table_id else ""
    return f"<div class=scroll><table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


# Provenance.


def _germline_id(doc: dict[str, Any]) -> str:
    germlines = doc.get("germlines") or {}
    ref = germlines.get("ref") if isinstance(germlines, dict) else None
    if not ref:
        return "not recorded in the file"
    checksum = str(germlines.get("checksum", ""))
    return f"{ref} ({checksum[:19]})" if checksum else str(ref)


def _producers(doc: dict[str, Any], n: int) -> str:
    samples = doc.get("samples", {})
    detection = sorted({str(p) for p in per_sample(samples.get("producer"), n) if p})
    parts = [f"report: vidjil-platform {__version__}"]
    if doc.get("producer"):
        parts.append(f"fused by: {doc['producer']}")
    if detection:
        parts.append(f"detection: {', '.join(detection)}")
    return "; ".join(parts)


def _provenance(doc: dict[str, Any], summary: list[SampleMRD]) -> str:
    sample_set = doc.get("_set") or {}
    fields = [
        ("set", f"{sample_set.get('name', '')} ({sample_set['type']})" if sample_set.get("type") else ""),
        ("set info", sample_set.get("info", "")),
        ("analysis", sample_set.get("analysis", "")),
        ("germline", _germline_id(doc)),
        ("tools", _producers(doc, len(summary))),
        ("fused at", str(doc.get("timestamp", ""))),
        ("generated at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    listed = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in fields if v)
    columns = {
        "sample": [s["sample"] for s in summary],
        "date": [s["date"] or "" for s in summary],
        "info": [s["info"] for s in summary],
    }
    shown = {label: values for label, values in columns.items() if any(values)}
    rows = [[escape(values[i]) for values in shown.values()] for i in range(len(summary))]
    samples = _table(list(shown), rows, left=3)
    return f"<section class=provenance id=provenance><dl>{listed}</dl>{samples}</section>"


# MRD summary.


def _marker_heading(clone: dict[str, Any], spike: bool) -> str:
    """The marker's rank (a link to its row in the clone table), locus and genes;
    its full name on hover."""
    v, j = _genes(clone)
    genes = f"{v} / {j}" if v and j else str(clone.get("name") or clone.get("id", ""))[:40]
    name = escape(str(clone.get("name") or clone.get("id", "")))
    span = 5 if spike else 4
    return (
        f"<th colspan={span} class=l scope=colgroup title='{name}'><a href='#clone-{int(clone['top'])}'>"
        f"★ #{int(clone['top'])}</a> {escape(clone_locus(clone))} {escape(genes)}</th>"
    )


def _marker_cells(marker: MarkerMRD, spike: bool) -> list[str]:
    if marker["reads"]:
        fraction = format_percent(marker["fraction"])
    else:
        fraction = f"&lt; {escape(format_percent(marker['lod']))}"
    limits = f"{format_percent(marker['lod'])} / {format_percent(marker['loq'])}" if marker["locus_reads"] else ""
    cells = [
        f"<td class=reads>{marker['reads']:,}</td>",
        f"<td class=percent>{fraction}</td>",
        f"<td class=limits>{escape(limits)}</td>",
        f"<td class='l status {marker['status']}'>{escape(status_text(marker))}</td>",
    ]
    if spike:
        copies = marker["spike_copies"]
        cells.append(f"<td class=spike>{significant(copies) if copies is not None else ''}</td>")
    return cells


def _sample_heading(s: SampleMRD) -> str:
    if s["pooled"]:
        return f"<th class=l scope=row>{escape(s['sample'])} (pooled: {escape(', '.join(s['libraries']))})</th>"
    return f"<th class=l scope=row>{escape(s['sample'])}</th>"


def _mrd_table(summary: list[SampleMRD], markers: list[dict[str, Any]], unit: str) -> str:
    if not markers:
        return "<p id=mrd-none>No marker clone: no clone has the marker share of its locus at diagnosis.</p>"
    spike = any(m["spike_copies"] is not None for s in summary for m in s["markers"])
    cells = any(m["cell_equivalents"] for s in summary for m in s["markers"])
    top_row = "<th rowspan=2 class=l>sample</th><th rowspan=2>date</th><th rowspan=2>days since first sample</th>"
    top_row += "<th rowspan=2>cell equivalents</th>" if cells else ""
    top_row += "".join(_marker_heading(clone, spike) for clone in markers)
    sub = ""
    for value in summary[0]["markers"]:
        sub += f"<th>{unit}</th><th>% of {escape(value['locus'])} detected {unit}</th><th>LoD / LoQ</th>"
        sub += "<th class=l>status</th>" + ("<th>spike-normalised copies</th>" if spike else "")
    body = ""
    for s in table_rows(summary):
        days = "" if s["days"] is None else str(s["days"])
        equivalents = s["markers"][0]["cell_equivalents"] if s["markers"] else None
        kind = " class=pooled" if s["pooled"] else ""
        body += (
            f"<tr{kind} data-sample='{escape(s['sample'])}'>{_sample_heading(s)}"
            f"<td>{escape(s['date'] or '')}</td><td>{days}</td>"
            + (f"<td>{round(equivalents):,}</td>" if cells and equivalents else "<td></td>" if cells else "")
            + "".join(c for m in s["markers"] for c in _marker_cells(m, spike))
            + "</tr>"
        )
    return (
        "<div class=scroll><table id=mrd-summary>"
        f"<thead><tr>{top_row}</tr><tr>{sub}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _mrd_section(doc: dict[str, Any], summary: list[SampleMRD], markers: list[dict[str, Any]]) -> str:
    set_type = str((doc.get("_set") or {}).get("type", ""))
    unit = count_unit(doc)
    counted = " Counts are molecules (UMIs): every sample of the set has them." if unit == "molecules" else ""
    run = " This set is a sequencing run: its samples may come from different patients." if set_type == "run" else ""
    fraction = (doc.get("_mrd") or {}).get("marker_fraction", MARKER_FRACTION)
    rule = (
        f"Marker clones (★): the clones the sets sheet lists, else those with {100 * fraction:g}% or more of"
        f" their locus's detected {unit} at diagnosis. Values are % of the clone's locus's detected {unit}."
        f" LoD (limit of detection): the larger of {LOD_READS} {unit} (or the fewest {unit} a sample lists) and"
        f" {LOD_CELLS} cells over the {unit} and cells analysed; LoQ (limit of quantification): {LOQ_READS} {unit}"
        f" and {LOQ_CELLS} cells. Positive: at or above the LoQ; positive below quantification: detected under"
        " the LoQ; negative: not detected, below the LoD (shown as &lt; LoD). Replicates are pooled for the status."
    )
    return (
        f"<h2 id=mrd>MRD summary</h2><p class=note>{rule}{counted}{run}</p>"
        + _mrd_table(summary, markers, unit)
        + _markers_section(doc)
    )


def _alerts_section(doc: dict[str, Any]) -> str:
    alerts = [a for a in (doc.get("_mrd") or {}).get("alerts") or [] if isinstance(a, dict)]
    if not alerts:
        return "<h2 id=alerts>Follow-up alerts</h2><p id=alerts-none>No alert.</p>"
    items = "".join(
        f"<li><b>{escape(str(a['code']))}</b> {escape(str(a['sample']))}: {escape(str(a['message']))}"
        f" <a href='#clone-{int(a['clone'])}'>clone #{int(a['clone'])}</a></li>"
        for a in alerts
    )
    return f"<h2 id=alerts>Follow-up alerts</h2><ul id=alert-list class=alerts>{items}</ul>"


def _markers_section(doc: dict[str, Any]) -> str:
    _, rows = marker_rows(doc)
    if not rows:
        return ""
    unit = count_unit(doc)
    body = [
        [
            f"<a href='#clone-{int(r['marker'])}'>#{int(r['marker'])}</a>",
            escape(str(r["locus"])),
            escape(f"{r['v']} / {r['j']}" if r["v"] else str(r["clone"])),
            escape(str(r["source"])),
            f"{r[at_diagnosis_column(unit)]:,}",
            format_percent(r["fraction_at_diagnosis"]),
            escape(str(r["recombination"])),
            {True: "yes", False: "no", None: ""}[r["productive"]],
            escape(str(r["sisters"]) or "none"),
            escape(str(r["other_patients"]) or "none"),
        ]
        for r in rows
    ]
    heading = [
        "marker",
        "locus",
        "V / J",
        "chosen by",
        f"{unit} at diagnosis",
        "% of locus at diagnosis",
        "recombination",
        "productive",
        "sister clones (same V and J)",
        "seen in other patients (index)",
    ]
    return "<h3 id=marker-flags>Marker candidates</h3>" + _table(heading, body, left=4, table_id="markers")


# Followed clones, QC, diversity.


def _genes(clone: dict[str, Any]) -> tuple[str, str]:
    seg = clone.get("seg") or {}
    v, j = (segment_name(seg, k).split("*")[0] for k in ("5", "3"))
    return v, j


def _warning_codes(clone: dict[str, Any]) -> list[str]:
    """Codes of a clone's warnings; the reference's fused files list them per
    sample (a warning or 0 in each)."""
    codes: list[str] = []
    for w in clone.get("warn") or []:
        code = str(w.get("code", "")) if isinstance(w, dict) else ""
        if code and code not in codes:
            codes.append(code)
    return codes


def _followed_count(doc: dict[str, Any]) -> str:
    top = doc.get("_fuse", {}).get("top")
    count = len(doc["clones"])
    return f"{count} clones in the top {int(top)} of some sample." if top else f"{count} followed clones."


def _clone_table(doc: dict[str, Any], names: list[str], markers: list[dict[str, Any]]) -> str:
    marker_tops = {int(m["top"]) for m in markers}
    rows = []
    for clone in doc["clones"]:
        top = int(clone["top"])
        junction = (clone.get("seg") or {}).get("junction") or {}
        productive = "" if not junction else ("yes" if junction.get("productive") else "no")
        cells = [
            f"{m['reads']:,} ({format_percent(m['fraction'])})"
            if m["reads"]
            else f"<span class=below>0 (&lt; {format_percent(m['lod'])})</span>"
            for m in marker_values(doc, clone)
        ]
        warns = " ".join(escape(code) for code in _warning_codes(clone))
        v, j = _genes(clone)
        attributes = (
            f"id=clone-{top} data-germline='{escape(str(clone.get('germline', '')))}'"
            f" data-v='{escape(v)}' data-j='{escape(j)}'"
        )
        flag = "★ " if top in marker_tops else ""
        row = [
            f"{flag}{top}",
            escape(str(clone.get("name") or clone.get("id", ""))),
            escape(str(clone.get("germline", ""))),
            escape(str(junction.get("aa", ""))),
            productive,
            *cells,
            warns,
        ]
        rows.append(_row(row, left=5).replace("<tr>", f"<tr {attributes}>", 1))
    header = ["#", "clone", "system", "junction (aa)", "productive", *(f"{n}: reads (% of locus)" for n in names)]
    head = "".join(f"<th{' class=l' if k < 5 else ''}>{escape(h)}</th>" for k, h in enumerate([*header, "warnings"]))
    return (
        "<h2 id=followed>Followed clones</h2>"
        f"<p class=note>{_followed_count(doc)} A clone without reads in a sample is below its detection limit,"
        " not at 0%."
        " <span id=clone-filter role=status></span> <button type=button id=clone-filter-clear hidden>"
        "show all clones</button></p>"
        f"<div class=scroll><table id=clones><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _qc(doc: dict[str, Any], names: list[str]) -> str:
    """The read funnel per sample; columns that are 0 in every sample are left out."""
    n = len(names)
    reads = doc["reads"]
    found = reads.get("germline")
    germline: dict[str, Any] = found if isinstance(found, dict) else {}
    systems = [s for s in sorted(germline) if any(per_sample(germline[s], n))]
    undetected = [u if isinstance(u, dict) else {} for u in per_sample(reads.get("_undetected"), n)]
    reasons = sorted({k for u in undetected for k, v in u.items() if v})
    rows = []
    for i, name in enumerate(names):
        total = int(per_sample(reads["total"], n)[i] or 0)
        detected = int(per_sample(reads["segmented"], n)[i] or 0)
        row = [escape(name), f"{total:,}", f"{detected:,} ({format_percent(detected / total if total else 0)})"]
        row += [f"{int(per_sample(germline[s], n)[i] or 0):,}" for s in systems]
        row += [f"{int(undetected[i].get(r, 0)):,}" for r in reasons]
        rows.append(row)
    header = ["sample", "reads", "detected", *systems]
    header += [f"undetected: {undetected_in_words(r)}" for r in reasons]
    warnings = []
    for name, warns in zip(names, per_sample(doc.get("_warn_samples"), n), strict=True):
        for w in warns or []:
            warnings.append(
                f"<li>{escape(name)}: {escape(str(w.get('code', '')))} {escape(str(w.get('msg', '')))}</li>"
            )
    listed = f"<ul>{''.join(warnings)}</ul>" if warnings else "<p>No sample warning.</p>"
    return "<h2 id=qc>Samples: read funnel and quality</h2>" + _table(header, rows, table_id="qc-table") + listed


def _diversity(doc: dict[str, Any], names: list[str]) -> str:
    found = doc.get("diversity")
    diversity: dict[str, Any] = found if isinstance(found, dict) else {}
    by_system = per_sample(diversity.get("_by_system"), len(names))
    if not any(by_system):
        return ""
    indices = ["clones", "reads", "shannon", "evenness", "simpson", "clonality", "chao1"]
    rows = []
    for name, systems in zip(names, by_system, strict=True):
        for locus, d in sorted((systems or {}).items()):
            rows.append([escape(name), escape(locus), *(_number(d.get(k, 0)) for k in indices)])
    table = _table(["sample", "locus", *indices], rows, left=2)
    pairs = [
        [
            escape(names[p["samples"][0]]),
            escape(names[p["samples"][1]]),
            f"{p['morisita_horn']:.4f}",
            f"{p['jaccard']:.4f}",
        ]
        for p in diversity.get("_overlap", [])
    ]
    overlap = _table(["sample", "sample", "Morisita-Horn", "Jaccard"], pairs, left=2)
    return "<h2 id=diversity>Diversity</h2>" + table + "<h3>Overlap between samples</h3>" + overlap


def _plots_js() -> str:
    return (files("vidjil") / "static" / "plots.js").read_text(encoding="utf-8")


def _contamination_section(rows: list[dict[str, Any]] | None) -> str:
    """A run's clones found in other patients' samples (`vidjil contamination`), when given."""
    if rows is None:
        return ""
    heading = "<h2 id=contamination>Contamination</h2>"
    if not rows:
        return heading + "<p id=contamination-none>No clone of this run found in another patient's sample.</p>"
    unit = rows[0]["unit"]

    def percent(value: float | None) -> str:
        return "" if value is None else format_percent(value)

    body = [
        [
            escape(str(r["sample"])),
            escape(str(r["patient"])),
            escape(f"{r['clone']} {r['name']}".strip()),
            escape(str(r["locus"])),
            escape(str(r["count"])),
            percent(r["fraction"]),
            escape(str(r["other_sample"])),
            escape(str(r["other_patient"])),
            escape(str(r["other_run"])),
            escape(str(r["other_count"])),
            percent(r["other_fraction"]),
            f"<span class=seq>{escape(str(r['junction']))}</span>",
        ]
        for r in rows
    ]
    # The junction last: its long sequence does not push the counts out of sight.
    header = [
        "sample",
        "patient",
        "clone",
        "locus",
        unit,
        "% of locus",
        "found in",
        "its patient",
        "its run",
        unit,
        "% of locus",
        "junction",
    ]
    note = (
        "<p class=note>Clones of this run's samples also found in another patient's sample, of this run or an "
        f"earlier one (through the index), at or above the contamination threshold; counts in {unit}.</p>"
    )
    return heading + note + _table(header, body, left=4, table_id="contamination-table")


def render(doc: dict[str, Any], title: str, contamination: list[dict[str, Any]] | None = None) -> str:
    from plotly.offline import get_plotlyjs

    names = sample_names(doc)
    markers = marker_clones(doc)
    summary = mrd_summary(doc, markers)
    plots = {"curves": clone_curves(doc, markers=markers), "heatmaps": vj_usage(doc)}
    # `</` cannot end the inlined scripts early: neither file holds `</script`.
    scripts = "".join(f"<script>{js}</script>" for js in (get_plotlyjs(), _plots_js()))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style>{scripts}</head><body>"
        f"<h1>{escape(title)}</h1>"
        + _provenance(doc, summary)
        + _alerts_section(doc)
        + _contamination_section(contamination)
        + _mrd_section(doc, summary, markers)
        + "<h2 id=over-time>Clones over time</h2><div class=plot id=curves></div>"
        + _clone_table(doc, names, markers)
        + _qc(doc, names)
        + "<h2 id=vj>V x J usage of the followed clones</h2><div id=heatmaps></div>"
        + _diversity(doc, names)
        + f"<script type='application/json' id='report-data'>{script_json(plots)}</script>"
        f"<script>{GLUE}</script></body></html>\n"
    )


def _default_title(doc: dict[str, Any], fused: Path) -> str:
    """The set and its analysis when the fused file names them, else the file name."""
    sample_set = doc.get("_set") or {}
    if not sample_set.get("name"):
        return fused.name
    analysis = sample_set.get("analysis")
    return f"{sample_set['name']} ({analysis})" if analysis else str(sample_set["name"])


def run_report(fused: Path, output: Path, title: str | None = None, contamination: Path | None = None) -> None:
    from .atomic import atomic_outputs
    from .contamination import read_table

    doc = read_vidjil(fused)
    if not isinstance(doc["reads"].get("segmented"), list):
        raise UserError(f"{fused}: not a .vidjil document of a set (reads.segmented is not a list per sample)")
    rows = read_table(contamination) if contamination is not None else None
    page = render(doc, title or _default_title(doc, fused), rows)
    try:
        with atomic_outputs() as outputs:
            outputs.write(output, lambda h: print(page, end="", file=h))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
