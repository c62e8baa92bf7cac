"""The read-only viewer on a real demo run: every route and every refusal through
Flask's test client (with a sample set and sample described as
`<script>alert(1)</script>`), then the pages in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import DEMO_SAMPLES, leukemic_junction, serving

from vidjil.index import rebuild
from webui import create_app

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def site(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo run's results whose set and first sample carry a script in
    their descriptions."""
    workdir = tmp_path_factory.mktemp("viewer")
    results = workdir / "results"
    shutil.copytree(demo / "results", results)
    (description,) = results.glob(".runs/*/run.json")
    doc = json.loads(description.read_text())
    doc["sets"][0]["info"] = XSS
    doc["samples"][0]["info"] = XSS
    # A sample named by a script, in set P1 (an archive from elsewhere could bring one).
    doc["samples"].append({"name": XSS, "sets": ["P1"], "date": "2026-06-01", "order": None, "info": None, "reads": []})
    description.write_text(json.dumps(doc))
    rebuild(results, results / "index.sqlite")
    return workdir


@pytest.fixture(scope="module")
def client(site: Path) -> Any:
    return create_app(site / "results").test_client()


def result_id(site: Path, sample: str) -> int:
    with sqlite3.connect(site / "results" / "index.sqlite") as con:
        return int(con.execute("SELECT id FROM results WHERE sample = ?", (sample,)).fetchone()[0])


def test_every_page_answers_and_escapes(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    aa = json.loads((site / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())["clones"][0]["seg"]["junction"][
        "aa"
    ]
    pages = [
        "/",
        "/set/P1",
        "/set/P1?analysis=multi%2Binc",
        f"/sample/{first}",
        f"/sample/{first}?sort=reads&order=desc&q=IGH&page=1",
        f"/clone/{first}/1",
        f"/search?junction_aa={aa.replace('#', '%23').replace('*', '%2A')}",
        "/search",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.data.decode()
        assert XSS not in page, url
        headers = response.headers
        assert (
            "script-src 'self'" in headers["Content-Security-Policy"]
            and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        )
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in page.replace('<script src="', "").replace('<script type="application/json"', ""), url
    assert ESCAPED in client.get("/").data.decode() and ESCAPED in client.get("/set/P1").data.decode()
    assert client.get("/set/P1").data.decode().count(ESCAPED) >= 3  # set info, sample info, sample name
    set_page = client.get("/set/P1").data.decode()
    assert set_page.count(' data-rank="') == len(
        json.loads((site / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())["clones"]
    )
    search = client.get(f"/search?junction_aa={aa.replace('#', '%23').replace('*', '%2A')}").data.decode()
    assert all(s in search for s in ("P1-diagnosis", "P1-followup-1", "P1-followup-2"))


def test_clone_page_colours_the_sequence_and_follows_the_clone(client: Any, site: Path) -> None:
    page = client.get(f"/clone/{result_id(site, 'P1-diagnosis')}/1").data.decode()
    for kind in ('class="V', 'class="J', 'class="N', "cdr3"):
        assert kind in page
    assert "Germline alignment" in page and "P1-followup-2" in page


def test_server_side_pagination(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    page1 = client.get(f"/sample/{first}?page=1").data.decode()
    page2 = client.get(f"/sample/{first}?page=2").data.decode()
    assert page1.count('href="/clone/') == 2 * 50 and page1 != page2
    clones = len(
        json.loads((site / "results/multi+inc/samples/P1-diagnosis/P1-diagnosis.vidjil").read_text())["clones"]
    )
    pages = -(-clones // 50)
    last = client.get(f"/sample/{first}?page=999").data.decode()  # past the end: the last page
    assert f"page {pages} of {pages}" in last and last == client.get(f"/sample/{first}?page={pages}").data.decode()
    assert f"page 1 of {pages}" in client.get(f"/sample/{first}?page=-3").data.decode()


def test_downloads_and_plotly_are_served(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    vidjil = client.get(f"/download/result/{first}/vidjil")
    assert vidjil.status_code == 200 and json.loads(vidjil.data)["samples"]["original_names"] == ["P1-diagnosis"]
    assert client.get(f"/download/result/{first}/airr").data.startswith(b"sequence_id")
    parquet = client.get(f"/download/result/{first}/parquet")
    assert parquet.status_code == 200 and parquet.data[:4] == parquet.data[-4:] == b"PAR1"
    assert f'href="/download/result/{first}/parquet"' in client.get(f"/sample/{first}").data.decode()
    report = client.get("/download/fused/1/report")
    assert b"<html" in report.data[:200].lower()
    # Inline (not an attachment), its scripts allowed but sandboxed away from the viewer's origin.
    assert "attachment" not in report.headers.get("Content-Disposition", "")
    policy = report.headers["Content-Security-Policy"]
    assert "sandbox allow-scripts" in policy and "allow-same-origin" not in policy
    assert "script-src 'unsafe-inline'" in policy and "default-src 'none'" in policy
    assert client.get("/download/fused/1/vidjil").headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert client.get("/download/result/1/passwd").status_code == 404
    js = client.get("/plotly.min.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript" and len(js.data) > 1_000_000
    plots = client.get("/static-plots.js")
    assert plots.status_code == 200 and b"VidjilPlots" in plots.data and "max-age" in plots.headers["Cache-Control"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_only_get_and_head(client: Any, method: str) -> None:
    for url in ("/", "/set/P1", "/download/fused/1/vidjil", "/nowhere"):
        assert getattr(client, method)(url).status_code == 405
    assert client.head("/").status_code == 200


def test_the_token_is_required_when_set(site: Path) -> None:
    app = create_app(site / "results", token="s3cret")
    client = app.test_client()
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"X-Vidjil-Token": "wrong"}).status_code == 401
    assert client.get("/", headers={"X-Vidjil-Token": "s3cret"}).status_code == 200
    link = client.get("/set/P1?token=s3cret&analysis=multi%2Binc")
    assert link.status_code == 302 and "token" not in link.headers["Location"]
    assert "vidjil_token=s3cret" in link.headers["Set-Cookie"] and "HttpOnly" in link.headers["Set-Cookie"]
    assert client.get("/set/P1").status_code == 200  # the cookie now


def test_files_outside_the_root_are_refused(site: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    outside = tmp_path / "secret.vidjil"
    outside.write_text('{"clones": [], "reads": {"segmented": [1], "total": [1]}}')
    (results / "link.vidjil").symlink_to(outside)
    with sqlite3.connect(results / "index.sqlite") as con:
        for k, path in enumerate(["../secret.vidjil", str(outside), "link.vidjil"], start=100):
            con.execute(
                "INSERT INTO results (id, run, sample, analysis, vidjil, vidjil_sha256) "
                "SELECT ?, run, sample, 'x' || ?, ?, '' FROM results LIMIT 1",
                (k, k, path),
            )
    client = create_app(results).test_client()
    for k in (100, 101, 102):
        assert client.get(f"/download/result/{k}/vidjil").status_code == 404
        assert client.get(f"/sample/{k}").status_code == 404


def test_a_corrupt_result_is_an_error_for_that_item_only(site: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    (results / "multi+inc/samples/P1-followup-1/P1-followup-1.vidjil").write_text("{ not json")
    (results / "multi+inc/samples/P1-followup-2/P1-followup-2.vidjil").unlink()
    client = create_app(results).test_client()
    with sqlite3.connect(results / "index.sqlite") as con:
        ids = dict(con.execute("SELECT sample, id FROM results").fetchall())
    broken = client.get(f"/sample/{ids['P1-followup-1']}")
    assert broken.status_code == 503 and b"cannot be shown" in broken.data
    assert client.get(f"/sample/{ids['P1-followup-2']}").status_code == 503
    assert client.get(f"/download/result/{ids['P1-followup-2']}/vidjil").status_code == 503
    assert client.get(f"/sample/{ids['P1-diagnosis']}").status_code == 200
    assert client.get("/").status_code == 200 and client.get("/set/P1").status_code == 200


def fused_doc(site: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((site / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    return doc


def test_sample_page_links_followed_clones_and_keeps_the_table_in_view(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    page = client.get(f"/sample/{first}").data.decode()
    fused = fused_doc(site)
    assert "followed in P1 as #1" in page and 'href="/set/P1?analysis=multi%2Binc#clone-1"' in page
    # The read funnel: % detected, undetected reasons in words.
    assert "% of the reads" in page and "not detected: too few V/J k-mers" in page and "too-few-vj" not in page
    # Sort, filter and paging links come back to the table; % sorts.
    links = [a for a in page.split('href="')[1:] if "sort=" in a or "page=" in a]
    assert links and all(a.split('"')[0].endswith("#clones") for a in links)
    assert 'action="/sample/' in page and "#clones" in page.split('action="/sample/')[1].split('"')[0]
    by_percent = client.get(f"/sample/{first}?sort=fraction&order=asc").data.decode()
    assert by_percent.index('id="clone-') != page.index('id="clone-') or "▲" in by_percent
    empty = client.get(f"/sample/{first}?q=NO-SUCH-CLONE").data.decode()
    assert "No clone matches 'NO-SUCH-CLONE'" in empty and f'href="/sample/{first}#clones">Clear' in empty
    # A V x J filter (from a heatmap click) says so and can be cleared.
    top = fused["clones"][0]
    v, j = (top["seg"][k]["name"].split("*")[0] for k in ("5", "3"))
    filtered = client.get(f"/sample/{first}?v={v}&j={j}").data.decode()
    assert f"filter: {v} x {j}" in filtered and ">clear</a>" in filtered
    assert filtered.count('class="pick"') < page.count('class="pick"')


def test_clone_page_aligns_the_read_over_its_germline(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    page = client.get(f"/clone/{first}/1").data.decode()
    block = page.split('id="germline-alignment">')[1].split("</pre>")[0]
    reads = [line for line in block.splitlines() if line.startswith("read ")]
    germlines = [line for line in block.splitlines() if line.startswith("germline ")]
    assert len(reads) == len(germlines) >= 3
    bases = [g.split()[2] for g in germlines]
    assert all(len(b) <= 60 for b in bases) and len(bases[0]) == 60
    assert germlines[0].split()[1] == "1" and germlines[0].split()[3] == "60"  # start and end positions
    labels = "\n".join(line for line in block.splitlines() if line.startswith(("segment", "CDR3")))
    assert all(name in labels for name in ("V", "J", "CDR3")) and ("N1" in labels or "D" in labels)
    assert "mismatch" in block and 'class="J cdr3"' in block
    aa = client.get(f"/clone/{first}/1?view=aa").data.decode()
    aa_block = aa.split('id="germline-alignment">')[1].split("</pre>")[0]
    aa_read = [line for line in aa_block.splitlines() if line.startswith("germline ")][0].split()[2]
    assert len(aa_read) <= 60 and set(aa_read) <= set("ACDEFGHIKLMNPQRSTVWY*X.")
    assert "amino acids</strong>" in aa


def test_alignment_blocks_mark_mismatches_and_spans() -> None:
    from webui.data import alignment_blocks

    read = "ACGT" * 20  # 80 nt: V 1-40, N 41-45, J 46-80, CDR3 38-60
    germline = read[:9] + "T" + read[10:40] + "NNNNN" + read[45:]
    clone = {
        "seg": {
            "5": {"name": "V1*01", "start": 1, "stop": 40},
            "3": {"name": "J1*01", "start": 46, "stop": 80},
            "cdr3": {"start": 38, "stop": 60},
        }
    }
    alignment = {"sequence_alignment": read, "germline_alignment": germline, "v_sequence_start": "1"}
    first, second = alignment_blocks(clone, alignment)
    assert (first["start"], first["end"], second["start"], second["end"]) == (1, 60, 61, 80)
    assert first["mismatch"].index("*") == 9 and first["mismatch"].count("*") == 1  # N is not a mismatch
    assert first["germline"][9] == "T" and first["germline"][:9] == "." * 9 and first["germline"][40:45] == "NNNNN"
    assert first["segments"].startswith("V---") and first["segments"][40:42] == "N1" and first["segments"][45] == "J"
    assert first["cdr3"][37:41] == "CDR3" and first["cdr3"][59] == "=" and second["cdr3"].strip() == ""
    aa = alignment_blocks(clone, alignment, "aa")
    assert len(aa) == 1 and aa[0]["end"] <= 27


def test_selections_export_to_valid_fasta_airr_and_csv(client: Any, site: Path, tmp_path: Path) -> None:
    import csv

    import airr

    first = result_id(site, "P1-diagnosis")
    fasta = client.get(f"/export/result/{first}.fasta?ranks=1,3")
    assert fasta.status_code == 200 and "attachment" in fasta.headers["Content-Disposition"]
    records = fasta.data.decode().split(">")[1:]
    assert [r.split("|")[:2] for r in records] == [["P1-diagnosis", "rank 1"], ["P1-diagnosis", "rank 3"]]
    assert all(set("".join(r.splitlines()[1:])) <= set("ACGTN") for r in records)
    for url in (f"/export/result/{first}.airr.tsv?ranks=1,3", "/export/fused/1.airr.tsv?tops=1,2"):
        path = tmp_path / "selection.tsv"
        path.write_bytes(client.get(url).data)
        assert airr.validate_rearrangement(str(path), True), url
        assert len(list(airr.read_rearrangement(str(path)))) >= 2
    table = list(csv.DictReader(client.get(f"/export/result/{first}.csv?ranks=2").data.decode().splitlines()))
    assert len(table) == 1 and table[0]["rank"] == "2" and float(table[0]["percent"]) > 0
    assert "e-" not in table[0]["percent"]
    fused_fasta = client.get("/export/fused/1.fasta?tops=1").data.decode()
    assert fused_fasta.startswith(">" + ",".join(DEMO_SAMPLES) + "|rank 1|")
    compare = client.get(f"/compare/result/{first}?ranks=1,2").data.decode()
    assert 'id="compare"' in compare and 'class="diff"' in compare and "#1" in compare and "#2" in compare
    for bad in ("ranks=x", "ranks=0", "ranks=99999", "", "ranks=" + ",".join(["1"] * 1001)):
        answer = client.get(f"/export/result/{first}.fasta?{bad}")
        assert answer.status_code == 400 and f'href="/sample/{first}"' in answer.data.decode(), bad
    assert client.get(f"/export/result/{first}.exe?ranks=1").status_code == 404
    assert client.get("/export/fused/1.csv?tops=1,x").status_code == 400


def test_search_by_substring_and_prefix(client: Any, site: Path) -> None:
    aa = fused_doc(site)["clones"][0]["seg"]["junction"]["aa"]
    middle = aa[3:9].lower()
    page = client.get(f"/search?junction_aa={middle.replace('#', '%23').replace('*', '%2A')}").data.decode()
    # The leukemic clone is in 4 of the demo's 5 samples (follow-up 3 is negative).
    assert "hits in 4 samples" in page or "hits in" in page and "4 samples" in page
    assert "in sample</a>" in page and "/clone/" in page
    v_gene = fused_doc(site)["clones"][0]["seg"]["5"]["name"]
    family = v_gene.split("-")[0]  # IGHV1-69*08 -> IGHV1
    by_prefix = client.get(f"/search?v={family}").data.decode()
    assert v_gene in by_prefix and "hits in" in by_prefix
    assert "0 hits in 0 samples" in client.get("/search?junction_aa=QQQQQQQQQQ").data.decode()


def test_error_pages_lead_back(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    missing = client.get(f"/clone/{first}/99999")
    assert missing.status_code == 404 and f'href="/sample/{first}">Back to the sample' in missing.data.decode()
    assert 'href="/">Back to runs and sets' in client.get("/set/nowhere").data.decode()


def test_the_mrd_summary_links_to_clones_and_shows_spike_values(client: Any, site: Path, tmp_path: Path) -> None:
    from vidjil.mrd import marker_clones

    fused = fused_doc(site)
    leukemic = marker_clones(fused)[0]
    page = client.get("/set/P1").data.decode()
    table = page.split('id="mrd-summary"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert len(rows) == len(DEMO_SAMPLES) and "% of IGH reads" in table and "spike-normalised" not in table
    # Designated in the sample: its clone page there; too small to be designated: the set's row.
    assert f'href="/clone/{result_id(site, "P1-diagnosis")}/' in rows[0]
    reads = rows[2].split('class="num reads">')[1].split("</td>")[0]
    assert "P1-followup-2" in rows[2] and f'#clone-{leukemic["top"]}"' in reads
    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    path = results / "multi+inc/sets/P1/P1.fused.vidjil"
    spiked = json.loads(path.read_text())
    for clone in spiked["clones"]:
        clone.setdefault("_mrd", {})["spike_normalised_copies"] = [1234.5, 56.78, 0.0123]
    path.write_text(json.dumps(spiked))
    table = create_app(results).test_client().get("/set/P1").data.decode().split('id="mrd-summary"')[1]
    assert "spike-normalised copies" in table and ">1200<" in table and ">57<" in table and ">0.012<" in table


def test_the_set_page_shows_alerts_limits_markers_and_tables(client: Any, site: Path) -> None:
    page = client.get("/set/P1").data.decode()
    alerts = page.split('id="alert-list"')[1].split("</ul>")[0]
    assert alerts.count("<li>") == 2 and "W91" in alerts and "detected again" in alerts
    table = page.split('id="mrd-summary"')[1].split("</table>")[0]
    assert "LoD / LoQ" in table and "cell equivalents" in table and "106,061" in table  # 700 ng / 6.6 pg
    assert 'class="status positive-not-quantifiable"' in table and 'class="status negative"' in table
    markers = page.split('id="markers"')[1].split("</table>")[0]
    assert "threshold" in markers and "complete" in markers
    for kind in ("mrd", "markers", "alerts"):
        assert "/download/fused/" in page and f'/{kind}">' in page
        fused_id = page.split("/download/fused/")[1].split("/")[0]
        answer = client.get(f"/download/fused/{fused_id}/{kind}")
        assert answer.status_code == 200 and answer.data.decode().startswith(("sample\t", "marker\t")), kind


def test_a_run_set_shows_its_contamination_table(demo: Path, site: Path, tmp_path: Path) -> None:
    from helpers import run_vidjil

    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    folder = results / "multi+inc/sets/run-2026-05"
    # Follow-ups 1 and 2 taken as two patients: the leukemic clone (2.5% of IGH in
    # follow-up 1) is found with 6 reads in follow-up 2.
    samples, sets = tmp_path / "samples.tsv", tmp_path / "sets.tsv"
    samples.write_text("sample\tsets\nP1-followup-1\tPA\nP1-followup-2\tPB\n")
    sets.write_text("set\ttype\nPA\tpatient\nPB\tpatient\n")
    inputs = [str(results / f"multi+inc/samples/{s}/{s}.vidjil") for s in ("P1-followup-1", "P1-followup-2")]
    done = run_vidjil(
        "contamination", *inputs, "-o", str(folder / "run-2026-05.contamination.tsv"), "--samples-sheet",
        str(samples), "--sets-sheet", str(sets), "--min-fraction", "0.02",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rebuild(results, results / "index.sqlite")
    page = create_app(results).test_client().get("/set/run-2026-05").data.decode()
    table = page.split('id="contamination-table"')[1].split("</table>")[0]
    rows = table.split("<tbody>")[1].split("</tr>")[:-1]
    # The stable background clones (2-4% of their locus) are in both, and so is the leukemic clone.
    assert rows and all(">PA<" in r and ">PB<" in r and "this run" in r for r in rows)
    (leukemic,) = [r for r in rows if leukemic_junction(demo) in r]
    assert "<td>P1-followup-1</td>" in leukemic and ">P1-followup-2<" in leukemic and '"num">6<' in leukemic
    assert "/contamination" in page  # the download link


def test_a_set_of_12_samples_pages_fast(site: Path, tmp_path: Path) -> None:
    import time

    from helpers import run_vidjil

    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    samples = sorted((results / "multi+inc/samples").glob("*/*.vidjil"))[:3]
    fused = results / "multi+inc/sets/P1/P1.fused.vidjil"
    done = run_vidjil("fuse", *(str(s) for s in samples * 4), "-o", str(fused))
    assert done.returncode == 0, done.stderr
    assert len(json.loads(fused.read_text())["reads"]["segmented"]) == 12
    client = create_app(results).test_client()
    assert client.get("/set/P1").status_code == 200  # parses and caches the document
    started = time.perf_counter()
    page = client.get("/set/P1")
    seconds = time.perf_counter() - started
    print(f"set page of 12 samples: {seconds:.3f} s")
    assert page.status_code == 200 and page.data.decode().count("<tr><td><a href=") >= 12 and seconds < 0.5


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    app = create_app(site / "results")
    with serving(app) as base:
        yield base


SHOTS = Path("/tmp/shots/viewer")


def luminance(css: str) -> float:
    """Relative luminance (WCAG) of an `rgb(...)`/`rgba(...)` colour."""
    parts = [float(x) for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in parts]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class Pages:
    """Opens the viewer's pages in Chromium at a width, records console errors,
    checks the layout has no horizontal scroll and saves screenshots."""

    def __init__(self, browser: Any, server: str, shots: Path) -> None:
        # One context: plotly is fetched once, then cached as a user's browser does.
        self.context = browser.new_context()
        self.server, self.shots, self.errors = server, shots, []

    def open(self, path: str, width: int = 1280) -> Any:
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.on("console", lambda m: self.errors.append(f"{path}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{path}: {e}"))
        page.goto(self.server + path, wait_until="load")
        if page.locator("#plot-data").count():
            page.wait_for_load_state("networkidle")
        return page

    def check(self, page: Any, name: str, width: int) -> None:
        scroll, client = page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
        assert scroll <= client, f"{name} at {width} px scrolls horizontally ({scroll} > {client})"
        body = page.evaluate(
            "[getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.querySelector('main p, main td') || document.body).color]"
        )
        assert contrast(body[0], body[1]) >= 4.5 and contrast(body[2], body[1]) >= 4.5, (name, body)
        for grey in page.evaluate(
            "[...document.querySelectorAll('.below, .hint, .warn, .error, a')].slice(0, 50)"
            ".map(e => getComputedStyle(e).color)"
        ):
            assert contrast(grey, "rgb(255, 255, 255)") >= 4.5, (name, grey)
        shot = self.shots / f"{name}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SHOTS / shot.name)


def test_pages_in_chromium(
    browser: Any, server: str, site: Path, demo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from vidjil.mrd import format_percent, mrd_summary, status_text

    pages = Pages(browser, server, tmp_path_factory.mktemp("screenshots"))
    fused = fused_doc(site)
    first = result_id(site, "P1-diagnosis")

    # The set page: the MRD summary equals the fused file's, the plot has axis titles.
    page = pages.open("/set/P1")
    page.wait_for_selector("#curves .main-svg")
    rows = page.locator("#mrd-summary tbody tr").all()
    summary = mrd_summary(fused)
    assert len(rows) == len(summary) == len(fused["reads"]["segmented"])
    for row, expected in zip(rows, summary, strict=True):
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == expected["sample"] and cells[1] == (expected["date"] or "")
        marker = expected["markers"][0]
        values = {
            kind: row.locator(f"td.{kind}").first.inner_text() for kind in ("reads", "percent", "limits", "status")
        }
        assert values["reads"] == str(marker["reads"]) and values["status"] == status_text(marker)
        shown = format_percent(marker["fraction"]) if marker["reads"] else f"< {format_percent(marker['lod'])}"
        assert values["percent"] == shown
        assert values["limits"] == f"{format_percent(marker['lod'])} / {format_percent(marker['loq'])}"
    titles = page.locator("#curves .xtitle, #curves .ytitle").evaluate_all("els => els.map(e => e.textContent)")
    assert len(titles) == 2 and all(t.strip() for t in titles), titles
    # A clone clicked in a plot: its row is highlighted and in view.
    last = fused["clones"][-1]["top"]
    page.evaluate(f"document.dispatchEvent(new CustomEvent('vidjil:clone', {{detail: {{top: {last}}}}}))")
    assert page.locator(f"#clone-{last}.highlight").is_visible()
    assert page.evaluate(f"document.getElementById('clone-{last}').getBoundingClientRect().top") < 900
    # And back: a row clicked highlights its curve.
    page.click("#clone-1 td:nth-child(4)")
    assert page.get_attribute("#curves", "data-highlighted") == "1" and page.locator("#clone-1.highlight").count() == 1
    # A heatmap cell clicked: the followed clones of that V and J only, said and clearable.
    v, j = (fused["clones"][0]["seg"][k]["name"].split("*")[0] for k in ("5", "3"))
    assert not page.locator("#vj-filter").is_visible()
    page.evaluate(
        f"document.dispatchEvent(new CustomEvent('vidjil:vj', {{detail: {{locus: 'IGH', v: '{v}', j: '{j}'}}}}))"
    )
    assert page.locator("#vj-filter").is_visible() and f"{v} x {j}" in page.inner_text("#vj-filter")
    shown = page.locator("#followed tbody tr:visible").count()
    assert 1 <= shown < len(fused["clones"])
    page.click("#vj-filter a")
    assert page.locator("#followed tbody tr:visible").count() == len(fused["clones"])
    assert not page.locator("#vj-filter").is_visible()
    pages.check(page, "set", 1280)
    # The report opens in the browser, its scripts run, sandboxed away from the viewer's cookie.
    with page.expect_navigation():
        page.click("a:text-is('report')")
    page.wait_for_selector(".main-svg")
    with pytest.raises(Exception, match="sandboxed"):
        page.evaluate("document.cookie")
    page.close()

    # The sample page: keyboard selection, then the selection's exports and comparison.
    page = pages.open(f"/sample/{first}")
    page.wait_for_selector("#spectratype .main-svg")
    page.focus("#clone-1 input.pick")
    page.keyboard.press("Space")
    assert page.inner_text("#selection .count") == "1 clone selected"
    page.focus("#clone-2 input.pick")
    page.keyboard.press("Space")
    assert page.inner_text("#selection .count") == "2 clones selected"
    fasta_link = page.get_attribute("#selection a[data-format=fasta]", "href")
    airr_link = page.get_attribute("#selection a[data-format='airr.tsv']", "href")
    assert fasta_link == f"/export/result/{first}.fasta?ranks=1,2"
    fasta = page.request.get(server + fasta_link).text()
    assert fasta.count(">") == 2 and "|rank 1|" in fasta and "|rank 2|" in fasta
    airr_file = tmp_path_factory.mktemp("export") / "selection.tsv"
    airr_file.write_bytes(page.request.get(server + airr_link).body())
    import airr

    assert airr.validate_rearrangement(str(airr_file), True)
    assert [r["clone_id"] for r in airr.read_rearrangement(str(airr_file))] == ["1", "2"]
    pages.check(page, "sample", 1280)
    page.click("#selection a.compare")
    page.wait_for_selector("#compare")
    assert page.locator("#compare a").count() == 2
    pages.check(page, "compare", 1280)
    page.goto(f"{server}/sample/{first}")
    page.click("#clones-table tbody tr:first-child td:nth-child(3) a")
    page.wait_for_selector("#germline-alignment")
    assert "/clone/" in page.url and page.locator("pre.sequence span.V").count() >= 1
    pages.check(page, "clone", 1280)
    # A heatmap cell clicked on a sample page: the server filters its paged table.
    page.goto(f"{server}/sample/{first}", wait_until="load")
    with page.expect_navigation():
        page.evaluate(
            f"document.dispatchEvent(new CustomEvent('vidjil:vj', {{detail: {{locus: 'IGH', v: '{v}', j: '{j}'}}}}))"
        )
    assert f"{v} x {j}" in page.inner_text("#vj-filter") and page.url.endswith("#clones")
    assert page.locator("#clones-table tbody tr").count() >= 1
    page.close()

    # Search: a lower-case substring of the leukemic junction finds the samples that have it.
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    page = pages.open("/search")
    page.fill("#search input[name=junction_aa]", leukemic["seg"]["junction"]["aa"][2:10].lower())
    page.click("#search button")
    page.wait_for_selector("#hits")
    found = set(page.locator("#hits tbody tr td:first-child, #hits tr td:first-child").all_inner_texts())
    assert {"P1-diagnosis", "P1-followup-1", "P1-followup-2"} <= found
    assert "samples" in page.inner_text("#hit-count")
    pages.check(page, "search", 1280)
    search_url = page.url.removeprefix(server)
    page.close()

    # Every page at 800 px: no horizontal scroll (wide tables scroll in their box).
    for name, path in [
        ("runs", "/"),
        ("set", "/set/P1"),
        ("sample", f"/sample/{first}"),
        ("clone", f"/clone/{first}/1"),
        ("search", search_url),
        ("compare", f"/compare/result/{first}?ranks=1,2,3"),
        ("error", f"/clone/{first}/99999"),
    ]:
        page = pages.open(path, 800)
        pages.check(page, name, 800)
        page.close()
    for name, path in [("runs", "/"), ("error", f"/clone/{first}/99999")]:
        page = pages.open(path, 1280)
        pages.check(page, name, 1280)
        page.close()
    pages.context.close()
    assert [e for e in pages.errors if "404" not in e] == []
    os.environ.setdefault("VIDJIL_SCREENSHOTS", str(pages.shots))


def test_a_sample_of_100000_clones_pages_fast(site: Path, tmp_path: Path) -> None:
    import time

    results = tmp_path / "results"
    shutil.copytree(site / "results", results)
    big = {
        "samples": {"number": 1, "original_names": ["big"]},
        "reads": {"total": [10_000_000], "segmented": [9_000_000], "germline": {"IGH": [9_000_000]}},
        "clones": [
            {"id": f"W{k:06d}", "top": k + 1, "reads": [100_000 - k], "germline": "IGH", "name": f"IGHV{k % 50}"}
            for k in range(100_000)
        ],
    }
    (results / "big.vidjil").write_text(json.dumps(big))
    with sqlite3.connect(results / "index.sqlite") as con:
        con.execute(
            "INSERT INTO results (id, run, sample, analysis, vidjil, vidjil_sha256) "
            "SELECT 999, run, sample, 'big', 'big.vidjil', '' FROM results LIMIT 1"
        )
    client = create_app(results).test_client()
    started = time.perf_counter()
    first = client.get("/sample/999?page=1500")
    first_seconds = time.perf_counter() - started
    assert first.status_code == 200 and b"100000 clones; page 1500 of 2000" in first.data
    started = time.perf_counter()
    sorted_page = client.get("/sample/999?sort=name&order=desc&q=IGHV7&page=3")
    again_seconds = time.perf_counter() - started
    assert sorted_page.status_code == 200 and sorted_page.data.count(b'href="/clone/999/') == 2 * 50
    print(f"100,000 clones: first page {first_seconds:.2f} s (parse included), sorted+filtered {again_seconds:.2f} s")
    assert first_seconds < 10 and again_seconds < 2
