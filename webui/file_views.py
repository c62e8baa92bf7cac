"""The viewer's pages over `.vidjil` files given one by one (`vidjil view FILE...`,
blueprint `documents`): the list of files as the home page, a one-sample file on
the sample page, a fused file on the set page, a clone's page, the file's download
and the selection's exports. The same templates and `data` functions as the pages
of a results folder; here only what differs: where things are and link to."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from vidjil.mrd import MarkerMRD

from .data import (
    DocumentCache,
    Files,
    MarkerLink,
    NotFound,
    VidjilFile,
    clone_by_top,
    colored_segments,
    compare,
    document_airr,
    document_members,
    file_set_info,
    max_top,
    parse_ranks,
    selected,
    set_page_data,
)
from .views import EXPORTS, CloneQuery, download, export_text, sample_page, selection, send_path

documents = Blueprint("documents", __name__)


def files() -> Files:
    value: Files = current_app.config["FILES"]
    return value


def opened(number: int) -> tuple[VidjilFile, dict[str, Any]]:
    """A given file and its document (parsed again if it changed since)."""
    file = files().get(number)
    cache: DocumentCache = current_app.config["DOCUMENTS"]
    return file, cache.get(file.path)


@documents.get("/")
def home() -> str:
    return render_template("files.html", files=files().items)


def _anchor(number: int) -> MarkerLink:
    """MRD cells of a file lead to the clone's row of the set page."""

    def link(_sample: str, marker: MarkerMRD) -> str:
        return url_for("documents.file_page", number=number) + f"#clone-{marker['top']}"

    return link


@documents.get("/file/<int:number>")
def file_page(number: int) -> str:
    file, doc = opened(number)
    downloads = [{"label": ".vidjil", "url": url_for("documents.download_file", number=number)}]
    if file.is_set:
        return render_template(
            "set.html",
            info=file_set_info(doc, file),
            members=document_members(doc),
            analyses=[],
            downloads=downloads,
            **selection("file", number, "tops"),
            **set_page_data(doc, _anchor(number)),
        )
    query = CloneQuery.from_request()
    return render_template(
        "sample.html",
        **sample_page(doc, query, query.clones(doc)),
        title=file.sample,
        subtitle=f"file {file.name}",
        sets=None,
        downloads=downloads,
        page_url=partial(url_for, "documents.file_page", number=number),
        clone_url=partial(url_for, "documents.clone", number=number),
        **selection("file", number, "ranks"),
    )


@documents.get("/file/<int:number>/clone/<int:rank>")
def clone(number: int, rank: int) -> str:
    """A clone of a one-sample file (a fused file's clones are rows of its set page)."""
    file, doc = opened(number)
    if file.is_set:
        raise NotFound()
    record = clone_by_top(doc, rank)
    return render_template(
        "clone.html",
        sample_name=file.sample,
        sample_url=url_for("documents.file_page", number=number),
        clone_url=partial(url_for, "documents.clone", number=number),
        clone=record,
        rank=rank,
        pieces=colored_segments(record),
        alignment=None,
        blocks=[],
        view="nt",
        followed=None,
    )


@documents.get("/download/file/<int:number>")
def download_file(number: int) -> Response:
    """The file as it was given (read, never copied nor changed)."""
    file = files().get(number)
    return send_path(file.path, file.name)


def _chosen(doc: dict[str, Any]) -> list[int]:
    """The ranks of a selection (`ranks=` on a sample's page, `tops=` on a set's)."""
    return parse_ranks(request.args.get("tops") or request.args.get("ranks", ""), max_top(doc))


@documents.get("/export/file/<int:number>.<fmt>")
def export_file(number: int, fmt: str) -> Response:
    """Selected clones of a file as FASTA, AIRR (made from the document) or CSV."""
    if fmt not in EXPORTS:
        abort(404)
    file, doc = opened(number)
    tops = _chosen(doc)
    airr = document_airr(doc, tops) if fmt == "airr.tsv" else []
    return download(export_text(selected(doc, tops), doc, fmt, airr), fmt, f"{file.path.stem}-selection")


@documents.get("/compare/file/<int:number>")
def compare_file(number: int) -> str:
    file, doc = opened(number)
    clones = selected(doc, _chosen(doc))
    back = url_for("documents.file_page", number=number)
    if file.is_set:
        links = {c["top"]: f"{back}#clone-{c['top']}" for c in clones}
    else:
        links = {c["top"]: url_for("documents.clone", number=number, rank=c["top"]) for c in clones}
    return render_template("compare.html", title=file.name, back=back, links=links, compared=compare(clones))
