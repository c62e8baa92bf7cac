"""The viewer's pages over a results folder (blueprint `viewer`) and its downloads
(blueprint `files`); what every mode shares (blueprint `common`: plotly, error
pages, the navigation). The pages of `.vidjil` files given one by one are in
`file_views`. Each view asks `data` for what it shows and hands it to a template."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache, partial
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from vidjil import layout
from vidjil.airr_format import FIELDS, fused_rows, read_airr, write_airr
from vidjil.errors import UserError
from vidjil.index import search as index_search
from vidjil.mrd import MarkerMRD, format_percent, marker_clones, sample_names

from . import access
from .access import check_sample, check_set, visible
from .data import (
    CSV_FIELDS,
    BadSelection,
    ClonePage,
    DocumentCache,
    MarkerLink,
    NotFound,
    Results,
    Unavailable,
    airr_row,
    alignment_blocks,
    clone_in_fused,
    clone_page,
    colored_segments,
    compare,
    contamination_table,
    csv_rows,
    fasta,
    followed_by_junction,
    followed_cells,
    junction_of,
    parse_ranks,
    sample_funnel,
    sample_plot,
    selected,
    set_page_data,
)

common = Blueprint("common", __name__)
viewer = Blueprint("viewer", __name__)
files = Blueprint("files", __name__)


def file_mode() -> bool:
    """Whether this viewer serves `.vidjil` files given one by one (not a results folder)."""
    return current_app.config.get("FILES") is not None


def results() -> Results:
    """The results folder as the requester reads it (webui/access.py)."""
    return access.results()


def document(relative: str) -> dict[str, Any]:
    cache: DocumentCache = current_app.config["DOCUMENTS"]
    return cache.get(results().resolve(relative))


def parent_page() -> tuple[str, str]:
    """Where an error page leads back: the sample of a clone or an export, the file
    of a file's clone or export, else the home page (runs and sets, or the files)."""
    parts = request.path.strip("/").split("/")
    if file_mode():
        # /file/N/clone/K, /export/file/N.csv, /compare/file/N lead back to /file/N.
        number = ""
        if len(parts) >= 3 and parts[0] == "file":
            number = parts[1]
        elif len(parts) == 3 and parts[0] in ("export", "compare") and parts[1] == "file":
            number = parts[2].split(".")[0]
        if number.isdigit() and 1 <= int(number) <= len(current_app.config["FILES"].items):
            return url_for("documents.file_page", number=int(number)), "the file"
        return url_for("documents.home"), "the files"
    if len(parts) >= 2 and parts[0] in ("clone", "compare") and parts[1].isdigit():
        return url_for("viewer.sample", result_id=int(parts[1])), "the sample"
    if len(parts) == 3 and parts[:2] == ["export", "result"] and parts[2].split(".")[0].isdigit():
        return url_for("viewer.sample", result_id=int(parts[2].split(".")[0])), "the sample"
    return url_for("viewer.runs"), "runs and sets"


def error_page(message: str, status: int) -> tuple[str, int]:
    back, label = parent_page()
    return render_template("error.html", message=message, back=back, back_label=label), status


@common.app_errorhandler(NotFound)
def not_found(_: NotFound) -> tuple[str, int]:
    if file_mode():
        return error_page("Not found among the files of this viewer.", 404)
    return error_page("Not found in the index of this results folder.", 404)


@common.app_errorhandler(404)
def not_found_route(_: Exception) -> tuple[str, int]:
    return error_page("No such page.", 404)


@common.app_errorhandler(405)
def not_allowed(_: Exception) -> tuple[str, int]:
    return error_page("This viewer is read-only.", 405)


@common.app_errorhandler(Unavailable)
def unavailable(error: Unavailable) -> tuple[str, int]:
    return error_page(f"This item cannot be shown: {error}", 503)


@common.app_errorhandler(UserError)
def unreadable(error: UserError) -> tuple[str, int]:
    """What the package's own readers refuse (an index of another schema, say)."""
    return error_page(f"This cannot be shown: {error}", 503)


@common.app_errorhandler(BadSelection)
def bad_selection(error: BadSelection) -> tuple[str, int]:
    return error_page(f"This selection cannot be exported: {error}", 400)


@common.app_context_processor
def navigation() -> dict[str, Any]:
    """The home page every page leads back to, and whether the index can be searched."""
    if file_mode():
        return {"home_url": url_for("documents.home"), "home_label": "Files", "searchable": False}
    return {"home_url": url_for("viewer.runs"), "home_label": "Runs and sets", "searchable": True}


@common.app_template_global("format_percent")
def format_percent_global(fraction: float) -> str:
    return format_percent(fraction)


@dataclass
class CloneQuery:
    """How a sample page's clone table is asked for: sort, order, filter, V x J, page."""

    sort: str
    descending: bool
    text: str
    vj: tuple[str, str] | None
    page: int

    @classmethod
    def from_request(cls) -> CloneQuery:
        v_gene, j_gene = request.args.get("v", "").strip(), request.args.get("j", "").strip()
        return cls(
            sort=request.args.get("sort", "rank"),
            descending=request.args.get("order", "asc") == "desc",
            text=request.args.get("q", "").strip(),
            vj=(v_gene, j_gene) if v_gene and j_gene else None,
            page=request.args.get("page", 1, type=int) or 1,
        )

    def clones(self, doc: dict[str, Any]) -> ClonePage:
        per_page = current_app.config["PER_PAGE"]
        return clone_page(doc, self.page, per_page, self.sort, self.descending, self.text, self.vj)


def sample_page(doc: dict[str, Any], query: CloneQuery, shown: ClonePage) -> dict[str, Any]:
    """The template values of a sample page that come from its document."""
    return {
        "funnel": sample_funnel(doc),
        "warnings": doc.get("warn", []),
        "clones": shown.rows,
        "matching": shown.matching,
        "page": shown.page,
        "pages": shown.pages,
        "sort": query.sort,
        "order": "desc" if query.descending else "asc",
        "q": query.text,
        "vj": query.vj,
        "plot": sample_plot(doc),
    }


@viewer.get("/")
def runs() -> str:
    r = results()
    run_samples = Counter(
        row["run"] for row in visible(r.query("SELECT DISTINCT run, sample FROM results"), "sample", "sample")
    )
    return render_template(
        "runs.html",
        runs=[
            {**row, "samples": run_samples[row["id"]]}
            for row in visible(r.query("SELECT * FROM runs ORDER BY finished DESC"), "id", "run")
        ],
        sets=visible(
            r.query(
                "SELECT s.name, s.type, s.info, count(m.sample) AS samples FROM sample_sets s"
                " LEFT JOIN set_members m ON m.sample_set = s.name GROUP BY s.name ORDER BY s.name"
            ),
            "name",
            "set",
        ),
        samples=visible(
            r.query(
                "SELECT r.id, r.run, r.analysis, r.sample, r.reads_total, r.reads_analysed, r.clones"
                " FROM results r ORDER BY r.sample, r.analysis"
            ),
            "sample",
            "sample",
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


def _marker_links(fused: dict[str, Any], chosen: dict[str, Any]) -> MarkerLink:
    """Where the MRD summary's cells lead: the clone's page in that sample when it is
    designated there, else the set's clone row."""
    junctions = {int(c["top"]): junction_of(c) for c in marker_clones(fused)}
    ranks = _sample_ranks(chosen["run"], chosen["analysis"], {j for j in junctions.values() if j})
    set_page = url_for("viewer.sample_set", name=chosen["sample_set"], analysis=chosen["analysis"])

    def link(sample: str, marker: MarkerMRD) -> str:
        found = ranks.get((sample, junctions.get(marker["top"], "")))
        if found:
            return url_for("viewer.clone", result_id=found[0], rank=found[1])
        return f"{set_page}#clone-{marker['top']}"

    return link


def selection(kind: str, item: int, param: str) -> dict[str, str]:
    """Where the selection bar sends its GET links (app.js adds the format and the ranks)."""
    return {
        "export_base": f"{request.script_root}/export/{kind}/{item}",
        "compare_base": f"{request.script_root}/compare/{kind}/{item}",
        "select_param": param,
    }


@viewer.get("/set/<name>")
def sample_set(name: str) -> str:
    name = access.set_name_from_url(name)  # its pseudonym, for an anonymous token
    check_set(name)
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
    if chosen is None:
        return render_template("set.html", info=info, members=members, fused=None)
    fused = document(chosen["vidjil"])
    tables = {
        row["kind"]: row["path"] for row in r.query("SELECT kind, path FROM set_files WHERE fused = ?", (chosen["id"],))
    }
    contamination, contamination_error = None, ""
    if "contamination" in tables:
        try:
            contamination = contamination_table(r.resolve(tables["contamination"]))
        except Unavailable as exc:
            contamination_error = str(exc)
    return render_template(
        "set.html",
        info=info,
        members=members,
        analyses=[
            {
                "label": f["analysis"],
                "url": url_for("viewer.sample_set", name=name, analysis=f["analysis"]),
                "current": f["id"] == chosen["id"],
            }
            for f in fused_files
        ],
        downloads=[
            {"label": label, "url": url_for("files.download_fused", fused_id=chosen["id"], kind=kind)}
            for label, kind in SET_DOWNLOADS
            if kind in ("vidjil", "airr", "report") or kind in tables
        ],
        contamination=contamination,
        contamination_error=contamination_error,
        **selection("fused", chosen["id"], "tops"),
        **set_page_data(fused, _marker_links(fused, chosen)),
    )


# The files of a set the page links to (the MRD tables when the index lists them).
SAMPLE_DOWNLOADS = ((".vidjil", "vidjil"), ("AIRR", "airr"), ("Parquet", "parquet"), ("stats", "stats"))
SET_DOWNLOADS = (
    (".vidjil", "vidjil"),
    ("AIRR", "airr"),
    ("report", "report"),
    ("MRD table", "mrd"),
    ("markers", "markers"),
    ("alerts", "alerts"),
    ("contamination", "contamination"),
)


def _followed_in_sets(row: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """junction -> the sets (and ranks there) that follow a clone of this sample."""
    return followed_by_junction(
        visible(
            results().query(
                "SELECT f.sample_set, f.analysis, fo.rank, fo.junction FROM followed fo JOIN fused f ON f.id = fo.fused"
                " WHERE fo.sample = ? AND f.analysis = ? ORDER BY f.sample_set",
                (row["sample"], row["analysis"]),
            ),
            "sample_set",
            "set",
        )
    )


def result_row(result_id: int) -> dict[str, Any]:
    """A sample's result the requester may see (else NotFound)."""
    row = results().one("SELECT * FROM results WHERE id = ?", (result_id,))
    check_sample(row["sample"])
    return row


def fused_row(fused_id: int) -> dict[str, Any]:
    """A set's fused result the requester may see (else NotFound)."""
    row = results().one("SELECT * FROM fused WHERE id = ?", (fused_id,))
    check_set(row["sample_set"])
    return row


def _has_parquet(row: dict[str, Any]) -> bool:
    """Whether a sample's clone table is there for this requester (not for an anonymous token)."""
    path = results().resolve(layout.sample_file(row["analysis"], row["sample"], "parquet"))
    return access.serves(path.name) and path.is_file()


@viewer.get("/sample/<int:result_id>")
def sample(result_id: int) -> str:
    r = results()
    row = result_row(result_id)
    doc = document(row["vidjil"])
    query = CloneQuery.from_request()
    shown = query.clones(doc)
    followed = _followed_in_sets(row)
    for clone in shown.rows:
        clone["followed"] = followed.get(clone["junction"], []) if clone["junction"] else []
    sets = visible(
        r.query("SELECT sample_set FROM set_members WHERE sample = ? ORDER BY sample_set", (row["sample"],)),
        "sample_set",
        "set",
    )
    return render_template(
        "sample.html",
        **sample_page(doc, query, shown),
        title=row["sample"],
        subtitle=f"{row['analysis']}, run {row['run']}",
        analysis=row["analysis"],
        sets=[s["sample_set"] for s in sets],
        downloads=[
            {"label": label, "url": url_for("files.download_result", result_id=result_id, kind=kind)}
            for label, kind in SAMPLE_DOWNLOADS
            if kind != "parquet" or _has_parquet(row)
        ],
        page_url=partial(url_for, "viewer.sample", result_id=result_id),
        clone_url=partial(url_for, "viewer.clone", result_id=result_id),
        **selection("result", result_id, "ranks"),
    )


@viewer.get("/clone/<int:result_id>/<int:rank>")
def clone(result_id: int, rank: int) -> str:
    r = results()
    row = result_row(result_id)
    doc = document(row["vidjil"])
    if not 1 <= rank <= len(doc["clones"]):
        raise NotFound()
    record = doc["clones"][rank - 1]
    alignment = airr_row(r.resolve(row["airr"]), rank) if row["airr"] else None
    view = "aa" if request.args.get("view") == "aa" else "nt"
    followed = []
    in_sets = r.query(
        "SELECT f.* FROM fused f JOIN set_members m ON m.sample_set = f.sample_set"
        " WHERE m.sample = ? AND f.analysis = ? ORDER BY f.sample_set",
        (row["sample"], row["analysis"]),
    )
    for fused in visible(in_sets, "sample_set", "set"):
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
        sample_name=row["sample"],
        sample_url=url_for("viewer.sample", result_id=result_id),
        clone_url=partial(url_for, "viewer.clone", result_id=result_id),
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
        hits = access.current_scope().hits(index_search(results().db, junction_aa, junction, v_gene))
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


@common.get("/plotly.min.js")
def plotly_js() -> Response:
    response = Response(_plotly(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@lru_cache(maxsize=1)
def _plots_js() -> str:
    return (package_files("vidjil") / "static" / "plots.js").read_text()


@common.get("/static-plots.js")
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
    return send_path(results().resolve(relative), relative, inline)


def _send_report(fused: dict[str, Any]) -> Response:
    """A set's report; re-rendered from its document as the requester may read it
    when it may not read every name (the stored page holds them all)."""
    if access.replacer() is None:
        return _send(layout.set_file(fused["analysis"], fused["sample_set"], "report"), inline=True)
    from vidjil.report import render

    doc = access.document_for_requester(document(fused["vidjil"]))
    title = access.document_for_requester({"title": f"{fused['sample_set']} ({fused['analysis']})"})["title"]
    response = access.Rewritten(render(doc, title), mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


def send_path(path: Path, shown: str, inline: bool = False) -> Response:
    """A file as a download (or, `inline`, the report in its sandbox); rewritten
    for a requester that may not read every name in it."""
    if not path.is_file():
        raise Unavailable(f"{shown} is missing")
    rewritten = access.file_for_requester(path, shown)
    if rewritten is not None:
        return rewritten
    response = send_file(path, as_attachment=not inline, download_name=path.name)
    if inline:
        response.headers["Content-Security-Policy"] = REPORT_CSP
    return response


@files.get("/download/result/<int:result_id>/<kind>")
def download_result(result_id: int, kind: str) -> Response:
    if kind not in layout.SAMPLE_FILES:
        abort(404)
    row = result_row(result_id)
    where = layout.parse_sample_file(row["vidjil"])
    if where is None:
        raise NotFound()
    return _send(layout.sample_file(*where, kind))


@files.get("/download/fused/<int:fused_id>/<kind>")
def download_fused(fused_id: int, kind: str) -> Response:
    if kind not in layout.SET_FILES:
        abort(404)
    row = fused_row(fused_id)
    where = layout.parse_set_file(row["vidjil"])
    if where is None:
        raise NotFound()
    if kind == "report":
        return _send_report(row)
    return _send(layout.set_file(*where, kind))


EXPORTS = {"fasta": "text/x-fasta", "airr.tsv": "text/tab-separated-values", "csv": "text/csv"}


def _sample_doc(result_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    row = result_row(result_id)
    return row, document(row["vidjil"])


def _fused_doc(fused_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    row = fused_row(fused_id)
    return row, document(row["vidjil"])


def airr_text(rows: list[dict[str, str]]) -> str:
    handle = io.StringIO()
    extra = list(dict.fromkeys(k for r in rows for k in r if k not in FIELDS))
    write_airr(handle, rows, extra)
    return handle.getvalue()


def export_text(clones: list[dict[str, Any]], doc: dict[str, Any], fmt: str, airr: list[dict[str, str]]) -> str:
    names = sample_names(doc)
    if fmt == "fasta":
        return fasta(clones, names)
    if fmt == "airr.tsv":
        return airr_text(airr)
    handle = io.StringIO()
    writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(clones, names, doc["reads"]["segmented"]))
    return handle.getvalue()


def download(text: str, fmt: str, name: str) -> Response:
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
    return download(export_text(clones, doc, fmt, airr), fmt, f"{row['sample']}-selection")


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
    return download(export_text(clones, doc, fmt, airr), fmt, f"{row['sample_set']}-selection")


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
