"""The read-only viewer on a real demo run: every route and every refusal through
Flask's test client (with a sample set and sample described as
`<script>alert(1)</script>`), then the pages in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import leukemic_junction
from werkzeug.serving import make_server

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
    assert set_page.count("<tr data-rank=") == len(
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
    last = client.get(f"/sample/{first}?page=999").data.decode()
    assert 'href="/clone/' not in last


def test_downloads_and_plotly_are_served(client: Any, site: Path) -> None:
    first = result_id(site, "P1-diagnosis")
    vidjil = client.get(f"/download/result/{first}/vidjil")
    assert vidjil.status_code == 200 and json.loads(vidjil.data)["samples"]["original_names"] == ["P1-diagnosis"]
    assert client.get(f"/download/result/{first}/airr").data.startswith(b"sequence_id")
    assert b"<html" in client.get("/download/fused/1/report").data[:200].lower()
    assert client.get("/download/result/1/passwd").status_code == 404
    js = client.get("/plotly.min.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript" and len(js.data) > 1_000_000


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


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    app = create_app(site / "results")
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


def open_page(browser: Any, url: str, shots: Path, name: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return page, errors


def test_pages_in_chromium(
    browser: Any, server: str, site: Path, demo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    fused = json.loads((site / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    page, errors = open_page(browser, f"{server}/", shots, "runs")
    assert errors == []
    page.click("text=P1")
    page.wait_for_selector("#curves .main-svg")
    page.screenshot(path=str(shots / "set.png"), full_page=True)
    traces = page.evaluate("document.getElementById('curves').data.length")
    assert traces == min(20, len(fused["clones"])) + 1  # the followed clones and the detection limit
    page.close()
    assert errors == []

    sample_page, errors = open_page(browser, f"{server}/sample/{result_id(site, 'P1-diagnosis')}", shots, "sample")
    sample_page.wait_for_selector("#spectratype .main-svg")
    assert sample_page.locator("#vj .js-plotly-plot").count() >= 3
    sample_page.click("#clones tr:nth-child(2) td:nth-child(2) a")
    sample_page.wait_for_selector("pre.sequence")
    assert "/clone/" in sample_page.url and sample_page.locator("pre.sequence span.V").count() >= 1
    sample_page.screenshot(path=str(shots / "clone.png"), full_page=True)
    sample_page.close()
    assert errors == []

    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    search, errors = open_page(browser, f"{server}/search", shots, "search-empty")
    search.fill("form:not(.inline) input[name=junction_aa]", leukemic["seg"]["junction"]["aa"])
    search.click("form:not(.inline) button")
    search.wait_for_selector("#hits")
    search.screenshot(path=str(shots / "search.png"), full_page=True)
    found = search.locator("#hits tr td:first-child").all_inner_texts()
    assert sorted(found) == ["P1-diagnosis", "P1-followup-1", "P1-followup-2"]
    search.close()
    assert errors == []
    assert len(list(shots.glob("*.png"))) == 6
    os.environ.setdefault("VIDJIL_SCREENSHOTS", str(shots))


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
