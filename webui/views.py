"""The viewer's pages (blueprint `viewer`) and downloads (blueprint `files`):
each view asks `data` for what it shows and hands it to a template."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file

from vidjil import layout
from vidjil.index import search as index_search
from vidjil.plots import clone_curves, vj_usage

from .data import (
    DocumentCache,
    NotFound,
    Results,
    Unavailable,
    airr_row,
    clone_in_fused,
    clone_page,
    colored_segments,
    script_json,
    spectratype,
)

viewer = Blueprint("viewer", __name__)
files = Blueprint("files", __name__)


def results() -> Results:
    value: Results = current_app.config["RESULTS"]
    return value


def document(relative: str) -> dict[str, Any]:
    cache: DocumentCache = current_app.config["DOCUMENTS"]
    return cache.get(results().resolve(relative))


@viewer.app_errorhandler(NotFound)
def not_found(_: NotFound) -> tuple[str, int]:
    return render_template("error.html", message="Not found in the index of this results folder."), 404


@viewer.app_errorhandler(404)
def not_found_route(_: Exception) -> tuple[str, int]:
    return render_template("error.html", message="No such page."), 404


@viewer.app_errorhandler(405)
def not_allowed(_: Exception) -> tuple[str, int]:
    return render_template("error.html", message="This viewer is read-only."), 405


@viewer.app_errorhandler(Unavailable)
def unavailable(error: Unavailable) -> tuple[str, int]:
    return render_template("error.html", message=f"This item cannot be shown: {error}"), 503


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
    return render_template(
        "set.html",
        info=info,
        members=members,
        fused_files=fused_files,
        chosen=chosen,
        fused=fused,
        plot=script_json({"curves": clone_curves(fused)}) if fused else None,
    )


@viewer.get("/sample/<int:result_id>")
def sample(result_id: int) -> str:
    r = results()
    row = r.one("SELECT * FROM results WHERE id = ?", (result_id,))
    doc = document(row["vidjil"])
    page = max(1, request.args.get("page", 1, type=int) or 1)
    sort = request.args.get("sort", "rank")
    descending = request.args.get("order", "asc") == "desc"
    text = request.args.get("q", "")
    per_page = current_app.config["PER_PAGE"]
    clones, matching = clone_page(doc, page, per_page, sort, descending, text)
    reads = doc["reads"]
    funnel = {
        "total": reads["total"][0],
        "detected": reads["segmented"][0],
        "systems": {k: v[0] for k, v in reads.get("germline", {}).items() if v[0]},
        "undetected": {k: v[0] for k, v in reads.get("_undetected", {}).items() if v[0]},
    }
    sets = r.query("SELECT sample_set FROM set_members WHERE sample = ? ORDER BY sample_set", (row["sample"],))
    return render_template(
        "sample.html",
        row=row,
        doc=doc,
        funnel=funnel,
        warnings=doc.get("warn", []),
        clones=clones,
        matching=matching,
        page=page,
        pages=max(1, -(-matching // per_page)),
        sort=sort,
        order="desc" if descending else "asc",
        q=text,
        sets=[s["sample_set"] for s in sets],
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
                "samples": fused_doc["samples"]["original_names"],
                "clone": match,
                "segmented": fused_doc["reads"]["segmented"],
            }
        )
    return render_template(
        "clone.html",
        row=row,
        clone=record,
        rank=rank,
        pieces=colored_segments(record),
        alignment=alignment,
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
        ids = {
            (h["run"], h["analysis"], h["sample"]): h
            for h in results().query("SELECT id, run, analysis, sample FROM results")
        }
        for hit in hits:
            hit["result_id"] = ids.get((hit["run"], hit["analysis"], hit["sample"]), {}).get("id")
    return render_template("search.html", hits=hits, junction_aa=junction_aa, junction=junction, v=v_gene)


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


def _send(relative: str) -> Response:
    path = results().resolve(relative)
    if not path.is_file():
        raise Unavailable(f"{relative} is missing")
    return send_file(path, as_attachment=True, download_name=path.name)


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
    return _send(layout.set_file(*where, kind))
