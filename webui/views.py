"""The viewer's pages (blueprint `viewer`) and downloads (blueprint `files`):
each view asks `data` for what it shows and hands it to a template."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib.resources import files as package_files
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from vidjil import layout
from vidjil.airr_format import FIELDS, fused_rows, read_airr, write_airr
from vidjil.errors import UserError
from vidjil.index import search as index_search
from vidjil.mrd import (
    LOD_READS,
    LOQ_READS,
    MARKER_FRACTION,
    format_percent,
    marker_clones,
    mrd_summary,
    sample_names,
    significant,
    status_text,
)
from vidjil.plots import clone_curves, script_json, vj_usage

from .data import (
    CSV_FIELDS,
    BadSelection,
    DocumentCache,
    NotFound,
    Results,
    Unavailable,
    airr_row,
    alignment_blocks,
    clone_in_fused,
    clone_page,
    colored_segments,
    compare,
    csv_rows,
    fasta,
    followed_by_junction,
    followed_cells,
    junction_of,
    marker_label,
    parse_ranks,
    selected,
    spectratype,
    undetected_reasons,
)

viewer = Blueprint("viewer", __name__)
files = Blueprint("files", __name__)


def results() -> Results:
    value: Results = current_app.config["RESULTS"]
    return value


def document(relative: str) -> dict[str, Any]:
    cache: DocumentCache = current_app.config["DOCUMENTS"]
    return cache.get(results().resolve(relative))


def parent_page() -> tuple[str, str]:
    """Where an error page leads back: the sample of a clone or an export, the set
    of a set page's error, else the list of runs and sets."""
    parts = request.path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] in ("clone", "compare") and parts[1].isdigit():
        return url_for("viewer.sample", result_id=int(parts[1])), "the sample"
    if len(parts) == 3 and parts[:2] == ["export", "result"] and parts[2].split(".")[0].isdigit():
        return url_for("viewer.sample", result_id=int(parts[2].split(".")[0])), "the sample"
    return url_for("viewer.runs"), "runs and sets"


def error_page(message: str, status: int) -> tuple[str, int]:
    back, label = parent_page()
    return render_template("error.html", message=message, back=back, back_label=label), status


@viewer.app_errorhandler(NotFound)
def not_found(_: NotFound) -> tuple[str, int]:
    return error_page("Not found in the index of this results folder.", 404)


@viewer.app_errorhandler(404)
def not_found_route(_: Exception) -> tuple[str, int]:
    return error_page("No such page.", 404)


@viewer.app_errorhandler(405)
def not_allowed(_: Exception) -> tuple[str, int]:
    return error_page("This viewer is read-only.", 405)


@viewer.app_errorhandler(Unavailable)
def unavailable(error: Unavailable) -> tuple[str, int]:
    return error_page(f"This item cannot be shown: {error}", 503)


@viewer.app_errorhandler(UserError)
def unreadable(error: UserError) -> tuple[str, int]:
    """What the package's own readers refuse (an index of another schema, say)."""
    return error_page(f"This cannot be shown: {error}", 503)


@viewer.app_errorhandler(BadSelection)
def bad_selection(error: BadSelection) -> tuple[str, int]:
    return error_page(f"This selection cannot be exported: {error}", 400)


@viewer.get("/")
def runs() -> str:
    r = results()
    return render_template(
        "runs.html",
        runs=r.query(
            "SELECT r.*, (SELECT count(DISTINCT sample) FROM results WHERE run = r.id) AS samples"
            " FROM runs r ORDER BY finished DESC"
        ),
        sets=r.query(
            "SELECT s.name, s.type, s.info, count(m.sample) AS samples FROM sample_sets s"
            " LEFT JOIN set_members m ON m.sample_set = s.name GROUP BY s.name ORDER BY s.name"
        ),
        samples=r.query(
            "SELECT r.id, r.run, r.analysis, r.sample, r.reads_total, r.reads_analysed, r.clones"
            " FROM results r ORDER BY r.sample, r.analysis"
        ),
    )


def _sample_ranks(run: str, analysis: str, junctions: set[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(sample, junction) -> (result id, rank in the sample) of the designated clones
    of one run and analysis that have one of these junctions."""
    if not junctions:
        return {}
    marks = ",".join("?" * len(junctions))
    rows = results().query(
        "SELECT r.sample, r.id, c.rank, c.junction FROM results r JOIN clones c ON c.result = r.id"
        f" WHERE r.run = ? AND r.analysis = ? AND c.junction IN ({marks})",
        (run, analysis, *sorted(junctions)),
    )
    return {(row["sample"], row["junction"]): (row["id"], row["rank"]) for row in rows}


def _mrd_rows(fused: dict[str, Any], chosen: dict[str, Any], markers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The MRD summary as table rows, each marker cell linked to the clone's page
    in that sample when it is designated there, else to the set's clone row."""
    junctions = {str(m["top"]): junction_of(m) for m in markers}
    ranks = _sample_ranks(chosen["run"], chosen["analysis"], {j for j in junctions.values() if j})
    rows = []
    for entry in mrd_summary(fused, markers):
        cells = []
        for marker in entry["markers"]:
            found = ranks.get((entry["sample"], junctions[str(marker["top"])]))
            link = (
                url_for("viewer.clone", result_id=found[0], rank=found[1])
                if found
                else url_for("viewer.sample_set", name=chosen["sample_set"], analysis=chosen["analysis"])
                + f"#clone-{marker['top']}"
            )
            spike = marker["spike_copies"]
            cells.append(
                {
                    "reads": marker["reads"],
                    "percent": format_percent(marker["fraction"]) if marker["reads"] else "",
                    "status": status_text(marker),
                    "negative": marker["status"] == "negative",
                    "spike": None if spike is None else significant(spike),
                    "link": link,
                }
            )
        rows.append({**entry, "cells": cells})
    return rows


def _selection(kind: str, item: int, param: str) -> dict[str, str]:
    """Where the selection bar sends its GET links (app.js adds the format and the ranks)."""
    return {
        "export_base": f"{request.script_root}/export/{kind}/{item}",
        "compare_base": f"{request.script_root}/compare/{kind}/{item}",
        "select_param": param,
    }


@viewer.app_template_global("format_percent")
def format_percent_global(fraction: float) -> str:
    return format_percent(fraction)


@viewer.get("/set/<name>")
def sample_set(name: str) -> str:
    r = results()
    info = r.one("SELECT * FROM sample_sets WHERE name = ?", (name,))
    fused_files = r.query("SELECT * FROM fused WHERE sample_set = ? ORDER BY analysis, run DESC", (name,))
    members = r.query(
        "SELECT m.position, s.* FROM set_members m JOIN samples s ON s.name = m.sample"
        " WHERE m.sample_set = ? ORDER BY m.position",
        (name,),
    )
    chosen = next((f for f in fused_files if f["analysis"] == request.args.get("analysis")), None)
    chosen = chosen or (fused_files[0] if fused_files else None)
    fused = document(chosen["vidjil"]) if chosen else None
    markers = marker_clones(fused) if fused else []
    mrd = _mrd_rows(fused, chosen, markers) if fused and chosen else []
    return render_template(
        "set.html",
        info=info,
        members=members,
        fused_files=fused_files,
        chosen=chosen,
        fused=fused,
        names=sample_names(fused) if fused else [],
        markers=[{**m, "label": marker_label(m)} for m in markers],
        marker_tops={m["top"] for m in markers},
        mrd=mrd,
        spiked=any(cell["spike"] for entry in mrd for cell in entry["cells"]),
        marker_percent=f"{100 * MARKER_FRACTION:g}%",
        lod_reads=LOD_READS,
        loq_reads=LOQ_READS,
        **_selection("fused", chosen["id"], "tops") if chosen else {},
        followed=followed_cells(fused) if fused else [],
        plot=script_json({"curves": clone_curves(fused, markers=markers), "vj": vj_usage(fused)}) if fused else None,
    )


def _followed_in_sets(row: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """junction -> the sets (and ranks there) that follow a clone of this sample."""
    return followed_by_junction(
        results().query(
            "SELECT f.sample_set, f.analysis, fo.rank, fo.junction FROM followed fo JOIN fused f ON f.id = fo.fused"
            " WHERE fo.sample = ? AND f.analysis = ? ORDER BY f.sample_set",
            (row["sample"], row["analysis"]),
        )
    )


@viewer.get("/sample/<int:result_id>")
def sample(result_id: int) -> str:
    r = results()
    row = r.one("SELECT * FROM results WHERE id = ?", (result_id,))
    doc = document(row["vidjil"])
    sort = request.args.get("sort", "rank")
    descending = request.args.get("order", "asc") == "desc"
    text = request.args.get("q", "").strip()
    v_gene, j_gene = request.args.get("v", "").strip(), request.args.get("j", "").strip()
    vj = (v_gene, j_gene) if v_gene and j_gene else None
    shown = clone_page(
        doc, request.args.get("page", 1, type=int) or 1, current_app.config["PER_PAGE"], sort, descending, text, vj
    )
    followed = _followed_in_sets(row)
    for clone in shown.rows:
        clone["followed"] = followed.get(clone["junction"], []) if clone["junction"] else []
    reads = doc["reads"]
    total = reads["total"][0]
    funnel = {
        "total": total,
        "detected": reads["segmented"][0],
        "detected_percent": format_percent(reads["segmented"][0] / total) if total else "",
        "systems": {k: v[0] for k, v in reads.get("germline", {}).items() if v[0]},
        "undetected": undetected_reasons(doc),
    }
    sets = r.query("SELECT sample_set FROM set_members WHERE sample = ? ORDER BY sample_set", (row["sample"],))
    return render_template(
        "sample.html",
        row=row,
        doc=doc,
        funnel=funnel,
        warnings=doc.get("warn", []),
        clones=shown.rows,
        matching=shown.matching,
        page=shown.page,
        pages=shown.pages,
        sort=sort,
        order="desc" if descending else "asc",
        q=text,
        vj=vj,
        sets=[s["sample_set"] for s in sets],
        **_selection("result", result_id, "ranks"),
        plot=script_json({"vj": vj_usage(doc), "spectratype": spectratype(doc)}),
    )


@viewer.get("/clone/<int:result_id>/<int:rank>")
def clone(result_id: int, rank: int) -> str:
    r = results()
    row = r.one("SELECT * FROM results WHERE id = ?", (result_id,))
    doc = document(row["vidjil"])
    if not 1 <= rank <= len(doc["clones"]):
        raise NotFound()
    record = doc["clones"][rank - 1]
    alignment = airr_row(r.resolve(row["airr"]), rank) if row["airr"] else None
    view = "aa" if request.args.get("view") == "aa" else "nt"
    followed = []
    for fused in r.query(
        "SELECT f.* FROM fused f JOIN set_members m ON m.sample_set = f.sample_set"
        " WHERE m.sample = ? AND f.analysis = ? ORDER BY f.sample_set",
        (row["sample"], row["analysis"]),
    ):
        try:
            fused_doc = document(fused["vidjil"])
        except Unavailable as exc:
            followed.append({"set": fused["sample_set"], "error": str(exc)})
            continue
        match = clone_in_fused(fused_doc, record)
        followed.append(
            {
                "set": fused["sample_set"],
                "analysis": fused["analysis"],
                "samples": sample_names(fused_doc),
                "clone": match,
                "cells": followed_cells({**fused_doc, "clones": [match]})[0] if match else [],
            }
        )
    return render_template(
        "clone.html",
        row=row,
        clone=record,
        rank=rank,
        pieces=colored_segments(record),
        alignment=alignment,
        blocks=alignment_blocks(record, alignment, view) if alignment else [],
        view=view,
        followed=followed,
    )


@viewer.get("/search")
def search() -> str:
    junction_aa = request.args.get("junction_aa", "").strip() or None
    junction = request.args.get("junction", "").strip() or None
    v_gene = request.args.get("v", "").strip() or None
    hits: list[dict[str, Any]] = []
    if junction_aa or junction or v_gene:
        hits = index_search(results().db, junction_aa, junction, v_gene)
        for hit in hits:
            if hit["sample_set"] is None:
                hit["link"] = url_for("viewer.clone", result_id=hit["result"], rank=hit["rank"])
            else:
                hit["link"] = (
                    url_for("viewer.sample_set", name=hit["sample_set"], analysis=hit["analysis"])
                    + f"#clone-{hit['rank']}"
                )
            hit["percent"] = format_percent(hit["fraction"])
    return render_template(
        "search.html",
        hits=hits,
        samples=len({(h["run"], h["analysis"], h["sample"]) for h in hits}),
        junction_aa=junction_aa,
        junction=junction,
        v=v_gene,
    )


@lru_cache(maxsize=1)
def _plotly() -> str:
    from plotly.offline import get_plotlyjs

    text: str = get_plotlyjs()
    return text


@viewer.get("/plotly.min.js")
def plotly_js() -> Response:
    response = Response(_plotly(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@lru_cache(maxsize=1)
def _plots_js() -> str:
    return (package_files("vidjil") / "static" / "plots.js").read_text()


@viewer.get("/static-plots.js")
def plots_js() -> Response:
    response = Response(_plots_js(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# The report runs its own inline scripts, isolated: a sandbox without same-origin
# (it cannot read the token cookie nor call the viewer), nothing loaded from anywhere.
REPORT_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _send(relative: str, inline: bool = False) -> Response:
    path = results().resolve(relative)
    if not path.is_file():
        raise Unavailable(f"{relative} is missing")
    response = send_file(path, as_attachment=not inline, download_name=path.name)
    if inline:
        response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


@files.get("/download/result/<int:result_id>/<kind>")
def download_result(result_id: int, kind: str) -> Response:
    if kind not in layout.SAMPLE_FILES:
        abort(404)
    row = results().one("SELECT vidjil FROM results WHERE id = ?", (result_id,))
    where = layout.parse_sample_file(row["vidjil"])
    if where is None:
        raise NotFound()
    return _send(layout.sample_file(*where, kind))


@files.get("/download/fused/<int:fused_id>/<kind>")
def download_fused(fused_id: int, kind: str) -> Response:
    if kind not in layout.SET_FILES:
        abort(404)
    row = results().one("SELECT vidjil FROM fused WHERE id = ?", (fused_id,))
    where = layout.parse_set_file(row["vidjil"])
    if where is None:
        raise NotFound()
    return _send(layout.set_file(*where, kind), inline=kind == "report")


EXPORTS = {"fasta": "text/x-fasta", "airr.tsv": "text/tab-separated-values", "csv": "text/csv"}


def _sample_doc(result_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    row = results().one("SELECT * FROM results WHERE id = ?", (result_id,))
    return row, document(row["vidjil"])


def _fused_doc(fused_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    row = results().one("SELECT * FROM fused WHERE id = ?", (fused_id,))
    return row, document(row["vidjil"])


def _airr_text(rows: list[dict[str, str]]) -> str:
    handle = io.StringIO()
    extra = list(dict.fromkeys(k for r in rows for k in r if k not in FIELDS))
    write_airr(handle, rows, extra)
    return handle.getvalue()


def _export(clones: list[dict[str, Any]], doc: dict[str, Any], fmt: str, airr: list[dict[str, str]]) -> str:
    names = sample_names(doc)
    if fmt == "fasta":
        return fasta(clones, names)
    if fmt == "airr.tsv":
        return _airr_text(airr)
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(clones, names, doc["reads"]["segmented"]))
    return handle.getvalue()


def _download(text: str, fmt: str, name: str) -> Response:
    response = Response(text, mimetype=EXPORTS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@files.get("/export/result/<int:result_id>.<fmt>")
def export_result(result_id: int, fmt: str) -> Response:
    """Selected clones of a sample (`ranks=1,3`) as FASTA, AIRR or CSV."""
    if fmt not in EXPORTS:
        abort(404)
    row, doc = _sample_doc(result_id)
    ranks = parse_ranks(request.args.get("ranks", ""), len(doc["clones"]))
    clones = selected(doc, ranks)
    airr: list[dict[str, str]] = []
    if fmt == "airr.tsv":
        if not row["airr"]:
            raise Unavailable("this sample has no AIRR file")
        wanted = {str(r) for r in ranks}
        airr = [a for a in read_airr(results().resolve(row["airr"])) if a.get("clone_id") in wanted]
    return _download(_export(clones, doc, fmt, airr), fmt, f"{row['sample']}-selection")


@files.get("/export/fused/<int:fused_id>.<fmt>")
def export_fused(fused_id: int, fmt: str) -> Response:
    """Selected followed clones of a set (`tops=1,3`) as FASTA, AIRR or CSV."""
    if fmt not in EXPORTS:
        abort(404)
    row, doc = _fused_doc(fused_id)
    tops = parse_ranks(request.args.get("tops", ""), max((int(c["top"]) for c in doc["clones"]), default=0))
    clones = selected(doc, tops)
    wanted = {str(t) for t in tops}
    airr = [a for a in fused_rows(doc) if a["clone_id"] in wanted] if fmt == "airr.tsv" else []
    return _download(_export(clones, doc, fmt, airr), fmt, f"{row['sample_set']}-selection")


@viewer.get("/compare/result/<int:result_id>")
def compare_result(result_id: int) -> str:
    row, doc = _sample_doc(result_id)
    clones = selected(doc, parse_ranks(request.args.get("ranks", ""), len(doc["clones"])))
    title = f"sample {row['sample']}"
    back = url_for("viewer.sample", result_id=result_id)
    links = {c["top"]: url_for("viewer.clone", result_id=result_id, rank=c["top"]) for c in clones}
    return render_template("compare.html", title=title, back=back, links=links, compared=compare(clones))


@viewer.get("/compare/fused/<int:fused_id>")
def compare_fused(fused_id: int) -> str:
    row, doc = _fused_doc(fused_id)
    count = max((int(c["top"]) for c in doc["clones"]), default=0)
    clones = selected(doc, parse_ranks(request.args.get("tops", ""), count))
    back = url_for("viewer.sample_set", name=row["sample_set"], analysis=row["analysis"])
    links = {c["top"]: f"{back}#clone-{c['top']}" for c in clones}
    return render_template(
        "compare.html", title=f"set {row['sample_set']}", back=back, links=links, compared=compare(clones)
    )
