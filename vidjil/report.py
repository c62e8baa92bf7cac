"""`vidjil report`: one self-contained HTML page for a fused sample set: the
samples and their read counts, then the followed clones with their reads and
fraction of detected reads in every sample. Every value from the data is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .errors import UserError
from .fuse import read_vidjil

STYLE = (
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.l,th.l{text-align:left}"
)


def _fraction(reads: int, segmented: int) -> str:
    """A fraction of detected reads; 0 reads is below the detection limit 1/segmented."""
    if segmented == 0:
        return "-"
    if reads == 0:
        return f"&lt; {100 / segmented:.4f}%"
    return f"{100 * reads / segmented:.4f}%"


def render(doc: dict[str, Any], title: str) -> str:
    names = [str(n) for n in doc["samples"]["original_names"]]
    totals, segmented = doc["reads"]["total"], doc["reads"]["segmented"]
    rows = [
        f"<tr><td class=l>{escape(n)}</td><td>{t}</td><td>{s}</td><td>{100 * s / max(1, t):.1f}%</td></tr>"
        for n, t, s in zip(names, totals, segmented, strict=True)
    ]
    head = "".join(f"<th>{escape(n)} reads</th><th>{escape(n)} %</th>" for n in names)
    clones = []
    for clone in doc["clones"]:
        seg = clone.get("seg", {})
        junction = seg.get("junction", {})
        cells = "".join(
            f"<td>{r}</td><td>{_fraction(r, s)}</td>" for r, s in zip(clone["reads"], segmented, strict=True)
        )
        productive = "" if not junction else ("yes" if junction.get("productive") else "no")
        clones.append(
            f"<tr><td>{clone['top']}</td><td class=l>{escape(str(clone.get('name', clone['id'])))}</td>"
            f"<td class=l>{escape(str(clone.get('germline', '')))}</td>"
            f"<td class=l>{escape(str(junction.get('aa', '')))}</td><td class=l>{productive}</td>{cells}</tr>"
        )
    return (
        f"<!DOCTYPE html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>"
        "<h2>Samples</h2><table><tr><th class=l>sample</th><th>reads</th><th>detected</th><th>%</th></tr>"
        + "".join(rows)
        + "</table><h2>Followed clones</h2><table><tr><th>#</th><th class=l>clone</th><th class=l>system</th>"
        f"<th class=l>junction</th><th class=l>productive</th>{head}</tr>"
        + "".join(clones)
        + "</table></body></html>\n"
    )


def run_report(fused: Path, output: Path, title: str | None = None) -> None:
    from .atomic import atomic_outputs

    doc = read_vidjil(fused)
    page = render(doc, title or fused.name)
    try:
        with atomic_outputs() as outputs:
            outputs.write(output, lambda h: print(page, end="", file=h))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
