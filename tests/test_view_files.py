"""`vidjil view FILE.vidjil...`: `.vidjil` files opened directly, without a results
folder or an index. Every file of the reference tool in ../shared/formats opens
(one page per file, its clones listed, never a server error; the fused ones on the
set page, screenshot in Chromium); a reference-style document built here (warn
lists holding 0, old string seg boxes, sequence 0, no sample names, no per-locus
reads, no MRD) opens through the command line as a lab would start it, with a
token; a file that is not a .vidjil stops the start with one line naming it."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import SHARED, VIDJIL, run_vidjil, serving

from vidjil.vidjil_format import read_vidjil
from webui import create_app
from webui.data import viewable


def formats_folder() -> Path:
    """../shared/formats (or /work/shared/formats); the test is skipped without it."""
    for shared in (SHARED, Path("/work/shared")):
        if (shared / "formats").is_dir():
            return shared / "formats"
    pytest.skip("../shared/formats is absent: the reference tool's files cannot be opened")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def clone_rows(html: str) -> list[str]:
    """The ranks of the clone rows of a page's clone table."""
    return re.findall(r'<tr id="clone-(\d+)"', html)


def check_page(html: str, doc: dict[str, Any], what: str) -> None:
    """A file's page lists its clones (`doc` as the viewer reads it), each once: every
    followed clone of a set (with the MRD summary), the first page of a sample's clones."""
    assert "Traceback" not in html and "cannot be shown" not in html, what
    n = len(doc["reads"]["segmented"])
    tops = sorted(str(c["top"]) for c in doc["clones"])
    assert len(set(tops)) == len(tops), what
    if n > 1:
        assert sorted(clone_rows(html)) == tops, what
        assert 'id="mrd-summary"' in html and 'id="curves"' in html and 'id="members"' in html, what
        members = html.split('id="members"')[1].split("</table>")[0]
        assert members.count("<tr><td>") == n, what
    else:
        shown = clone_rows(html)
        assert len(shown) == min(50, len(doc["clones"])) and set(shown) <= set(tops), what
        assert f"{len(doc['clones'])} clones; page 1 of" in html, what
        assert 'id="funnel"' in html and 'id="vj"' in html, what


# Every file of the reference tool.


@pytest.fixture(scope="module")
def reference() -> list[Path]:
    return sorted(formats_folder().glob("*.vidjil"))


@pytest.fixture(scope="module")
def reference_app(reference: list[Path]) -> Any:
    """One viewer over all of them, as `vidjil view ../shared/formats/*.vidjil` starts it."""
    return create_app(files=reference)


def test_every_reference_file_opens_with_its_clones(reference: list[Path], reference_app: Any) -> None:
    before = {p: (sha256(p), p.stat().st_mtime) for p in reference}
    client = reference_app.test_client()
    home = client.get("/")
    assert home.status_code == 200
    for number, path in enumerate(reference, start=1):
        assert f'href="/file/{number}">{path.name}</a>' in home.data.decode()
        doc = viewable(read_vidjil(path))
        page = client.get(f"/file/{number}")
        assert page.status_code == 200, (path.name, page.data.decode()[-2000:])
        check_page(page.data.decode(), doc, path.name)
        tops = [c["top"] for c in doc["clones"]]
        top = tops[0]
        single = len(doc["reads"]["segmented"]) == 1
        answers = {
            # Sorted, filtered and paged: the table is paged on the server.
            f"/file/{number}?sort=name&order=desc&q=V&page=2": 200,
            f"/file/{number}/clone/{top}": 200 if single else 404,  # a set's clones are rows of its page
            f"/export/file/{number}.fasta?{'ranks' if single else 'tops'}={top}": 200,
            f"/export/file/{number}.csv?ranks={','.join(str(t) for t in tops[:3])}": 200,
            f"/export/file/{number}.airr.tsv?tops={top}": 200,
            f"/compare/file/{number}?ranks={','.join(str(t) for t in tops[:2])}": 200,
            f"/file/{number}/clone/{max(tops) + 1}": 404,
        }
        for url, status in answers.items():
            answer = client.get(url)
            assert answer.status_code == status, (path.name, url, answer.data.decode()[-2000:])
        fasta = client.get(f"/export/file/{number}.fasta?ranks={top}").data.decode()
        assert fasta.startswith(">") and f"|rank {top}|" in fasta
        # The download is the file itself.
        download = client.get(f"/download/file/{number}")
        assert download.status_code == 200 and download.data == path.read_bytes()
        assert f"filename={path.name}" in download.headers["Content-Disposition"]
    assert client.get(f"/file/{len(reference) + 1}").status_code == 404
    assert {p: (sha256(p), p.stat().st_mtime) for p in reference} == before


# In Chromium: the fused reference files' set pages, a one-sample file's page.


@pytest.fixture(scope="module")
def reference_server(reference_app: Any) -> Iterator[str]:
    with serving(reference_app) as base:
        yield base


SHOTS = Path("/tmp/shots/view-files")


def test_reference_pages_in_chromium(
    browser: Any, reference: list[Path], reference_server: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from vidjil.mrd import marker_clones, mrd_summary, status_text

    shots = tmp_path_factory.mktemp("view-files-screenshots")
    context = browser.new_context()
    errors: list[str] = []
    numbers = {p.name: k for k, p in enumerate(reference, start=1)}
    wanted = ["demo_lil_l3_tutorial.vidjil", "fused_multiple.vidjil", "results_five_segmented_clones.vidjil"]
    for name in wanted:
        if name not in numbers:
            pytest.skip(f"{name} is not in ../shared/formats")
    saved = []
    for name in wanted:
        page = context.new_page()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.on("console", lambda m, n=name: errors.append(f"{n}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e, n=name: errors.append(f"{n}: {e}"))
        page.goto(f"{reference_server}/file/{numbers[name]}", wait_until="load")
        page.wait_for_load_state("networkidle")
        doc = viewable(read_vidjil(formats_folder() / name))
        if len(doc["reads"]["segmented"]) > 1:
            page.wait_for_selector("#curves .main-svg")
            titles = page.locator("#curves .xtitle, #curves .ytitle").evaluate_all("els => els.map(e => e.textContent)")
            assert len(titles) == 2 and all(t.strip() for t in titles), (name, titles)
            assert page.locator("#vj .main-svg").count() >= 1, name
            # The MRD summary is the one `vidjil report` computes from the same document.
            summary = mrd_summary(doc, marker_clones(doc))
            rows = page.locator("#mrd-summary tbody tr").all()
            assert len(rows) == len(summary) == len(doc["reads"]["segmented"]), name
            for row, expected in zip(rows, summary, strict=True):
                cells = row.locator("td").all_inner_texts()
                status = row.locator("td.status").first.inner_text()
                assert cells[0] == expected["sample"] and status == status_text(expected["markers"][0]), name
            assert page.locator("#followed tbody tr").count() == len(doc["clones"]), name
            # A followed clone clicked in the table: its curve highlighted.
            first = doc["clones"][0]["top"]
            page.click(f"#clone-{first} td:nth-child(4)")
            assert page.get_attribute("#curves", "data-highlighted") == str(first), name
            page.click(f"#clone-{first} td:nth-child(4)")
        else:
            page.wait_for_selector("#spectratype .main-svg")
            assert page.locator("#clones-table tbody tr").count() == len(doc["clones"]), name
        # Readable: the clone names wrap so that the samples' values stay in view at 1280 px,
        # and the page never scrolls sideways (at 800 px, wide tables scroll in their box).
        if page.locator("#followed").count():
            right = page.evaluate(
                "document.querySelector('#followed thead th:last-child').getBoundingClientRect().right"
            )
            assert right <= 1280, (name, right)
        shot = shots / f"{Path(name).stem}.png"
        page.screenshot(path=str(shot), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(shots / f"{Path(name).stem}-top.png"))  # the first screen, readable as is
        scroll, client = page.evaluate("[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]")
        assert scroll <= client, (name, scroll, client)
        narrow = context.new_page()
        narrow.set_viewport_size({"width": 800, "height": 900})
        narrow.goto(f"{reference_server}/file/{numbers[name]}", wait_until="load")
        narrow.wait_for_load_state("networkidle")
        scroll, client = narrow.evaluate(
            "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        assert scroll <= client, (name, 800, scroll, client)
        narrow.close()
        SHOTS.mkdir(parents=True, exist_ok=True)
        for made in (shot, shots / f"{Path(name).stem}-top.png"):
            shutil.copy(made, SHOTS / made.name)
            saved.append(made)
        page.close()
    page = context.new_page()
    page.goto(f"{reference_server}/", wait_until="load")
    page.screenshot(path=str(shots / "home.png"), full_page=True)
    shutil.copy(shots / "home.png", SHOTS / "home.png")
    page.close()
    context.close()
    assert errors == []
    print("screenshots:", *saved, shots / "home.png")


# A reference-style document built here (no ../shared needed), through the command line.


def reference_style_sample() -> dict[str, Any]:
    """One sample as older versions of the reference tool wrote it: seg boxes as bare
    gene names with 0-based positions beside them, sequence 0 for clones without
    one, warn lists holding 0, no sample names, no reads.germline, no _mrd."""
    sequence = "ACGT" * 10 + "TGTGCCAGCAGTTTAGCGGGGGCCTACGAGCAGTACTTC" + "GGGCCGGGCACCAGGCTCACGGTCACAG"
    return {
        "vidjil_json_version": "2014.10",
        "timestamp": ["2014-12-04 15:30:05"],
        "samples": {"number": 1, "original_names": ["/data/run1/patient-A_S1_R1.fastq.gz"]},
        "reads": {"total": [1000], "segmented": [900]},
        "warn": [0, {"code": "W20", "msg": "Very few V(D)J recombinations found"}],
        "clones": [
            {
                "id": "CAGCAGTTTAGCGGGGGCCTACGAGCAGTA",
                "top": 2,
                "reads": [300],
                "germline": "TRB",
                "name": "TRBV29*01 -2/3/-2 TRBD2*01 -2/3/-5 TRBJ2-7*01",
                "sequence": sequence,
                "seg": {
                    "5": "TRBV29*01",
                    "5start": 0,
                    "5end": 48,
                    "4": "TRBD2*01",
                    "4start": 54,
                    "4end": 60,
                    "3": "TRBJ2-7*01",
                    "3start": 66,
                },
                "warn": [0, 0, {"code": "W69", "level": "warn", "msg": "Several genes with equal probability"}],
                "seg_stat": [{"1": 100, "2": 200}],
            },
            {"id": "TTTTGGGGCCCCAAAATTTTGGGGCCCCAA", "top": 1, "reads": [500], "germline": "TRB", "sequence": 0},
            {"id": "GGGGCCCCAAAATTTTGGGGCCCCAAAATT", "top": 3, "reads": [20], "germline": "IGH", "warn": [0]},
        ],
    }


def reference_style_fused() -> dict[str, Any]:
    """Three samples fused by the reference tool: no names, no dates, no per-locus
    reads, no _mrd; each clone's `top` its best rank in any sample (two clones ranked
    first, in different samples); a clone without reads in the last sample."""
    return {
        "vidjil_json_version": "2016b",
        "producer": "vidjil fuse",
        "samples": {"number": 3, "original_names": ["dx.fastq", "fu1.fastq", "fu2.fastq"]},
        "reads": {"total": [1000, 2000, 4000], "segmented": [800, 1800, 3600]},
        "clones": [
            {
                "id": "CAGCAGTTTAGCGGGGGCCTACGAGCAGTA",
                "top": 1,
                "reads": [400, 30, 0],
                "germline": "TRB",
                "name": "TRBV29*01 -2/3/-2 TRBJ2-7*01",
                "sequence": 0,
                "seg": {"5": "TRBV29*01", "5end": 48, "3": "TRBJ2-7*01", "3start": 66},
                "warn": [0],
            },
            {
                "id": "TTTTGGGGCCCCAAAATTTTGGGGCCCCAA",
                "top": 2,
                "reads": [100, 200, 5],
                "germline": "IGH",
                "seg": {"5": {"name": "IGHV3-23*01"}, "3": {"name": "IGHJ4*02"}},
            },
            {"id": "GGGGCCCCAAAATTTTGGGGCCCCAAAATT", "top": 1, "reads": [1, 50, 3000], "germline": "IGH"},
        ],
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"X-Vidjil-Token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_reference_style_document_opens_through_the_command_line(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    sample, fused = folder / "patient-A.vidjil", folder / "patient-A.fused.vidjil"
    sample.write_text(json.dumps(reference_style_sample()))
    fused.write_text(json.dumps(reference_style_fused()))
    packed = folder / "again.vidjil.gz"
    packed.write_bytes(gzip.compress(json.dumps(reference_style_sample()).encode()))
    token = tmp_path / "token"
    token.write_text("t0ken-of-the-lab\n")
    listing, sums = files_in(folder), {p: sha256(p) for p in folder.iterdir()}
    port = free_port()
    server = subprocess.Popen(
        [*VIDJIL, "view", str(sample), str(fused), str(packed), "--port", str(port), "--token-file", str(token)],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1]
                time.sleep(0.05)
        else:
            pytest.fail("the viewer did not start")
        # The token works as for a results folder.
        assert get(f"{base}/file/1")[0] == 401
        assert get(f"{base}/file/1", "wrong")[0] == 401
        status, home = get(f"{base}/", "t0ken-of-the-lab")
        assert status == 200
        text = home.decode()
        for number, name in enumerate(["patient-A.vidjil", "patient-A.fused.vidjil", "again.vidjil.gz"], start=1):
            assert f'href="/file/{number}">{name}</a>' in text

        # The one-sample file on the sample page.
        status, body = get(f"{base}/file/1", "t0ken-of-the-lab")
        page = body.decode()
        assert status == 200, page
        assert clone_rows(page) == ["1", "2", "3"]  # by rank, whatever the order in the file
        assert "Sample patient-A_S1_R1.fastq.gz" in page and "3 clones; page 1 of 1" in page
        assert re.findall(r'<p class="warn">(.*?)</p>', page) == ["W20 Very few V(D)J recombinations found"]
        row = page.split('<tr id="clone-2"')[1].split("</tr>")[0]
        assert 'data-v="TRBV29" data-j="TRBJ2-7"' in row and "<td>W69</td>" in row  # the 0s dropped
        assert '"TRBV29"' in page.split('id="plot-data">')[1]  # V x J usage from the old seg boxes
        assert "followed" not in page.split('id="clones-table"')[1].split("</thead>")[0]  # no sets here
        # Its clone page colours the sequence from the old boxes (0-based, now 1-based).
        status, body = get(f"{base}/file/1/clone/2", "t0ken-of-the-lab")
        clone = body.decode()
        assert status == 200 and '<span class="V">' + "ACGT" * 10 in clone and '<span class="J">' in clone
        assert "In the samples of its sets" not in clone
        status, body = get(f"{base}/file/1/clone/1", "t0ken-of-the-lab")  # sequence 0: no sequence
        assert status == 200 and '<pre class="sequence"></pre>' in body.decode()
        # The gzip file is the same sample.
        status, body = get(f"{base}/file/3", "t0ken-of-the-lab")
        assert status == 200 and clone_rows(body.decode()) == ["1", "2", "3"]

        # The fused file on the set page: MRD summary, plots, followed clones.
        status, body = get(f"{base}/file/2", "t0ken-of-the-lab")
        page = body.decode()
        assert status == 200, page
        assert "<h1>fused file patient-A.fused.vidjil</h1>" in page
        mrd = page.split('id="mrd-summary"')[1].split("</table>")[0]
        assert re.findall(r'<tr><td><a href="[^"]*">([^<]*)</a>', mrd) == ["dx.fastq", "fu1.fastq", "fu2.fastq"]
        assert "negative (&lt; " in mrd  # the clone without reads in fu2: below its detection limit
        assert 'id="curves"' in page and '"curves"' in page.split('id="plot-data">')[1]
        # Clones named by their place in the file (the file's tops repeat), each once.
        assert clone_rows(page) == ["1", "2", "3"] and 'data-v="TRBV29" data-j="TRBJ2-7"' in page
        assert page.count("<strong>(marker)</strong>") == 2  # 400 and 100 of 800 reads in dx, not the third
        members = page.split('id="members"')[1].split("</table>")[0]
        assert all(f"<td>{name}</td>" in members for name in ["dx.fastq", "fu1.fastq", "fu2.fastq"])

        # Downloads and exports.
        status, body = get(f"{base}/download/file/2", "t0ken-of-the-lab")
        assert status == 200 and body == fused.read_bytes()
        status, body = get(f"{base}/download/file/3", "t0ken-of-the-lab")
        assert status == 200 and body == packed.read_bytes()
        status, body = get(f"{base}/export/file/2.csv?tops=1,3", "t0ken-of-the-lab")
        assert status == 200 and body.decode().count("\n") == 1 + 2 * 3
        status, body = get(f"{base}/export/file/1.airr.tsv?ranks=2", "t0ken-of-the-lab")
        assert status == 200 and "TRBV29*01" in body.decode() and "TRBJ2-7*01" in body.decode()
        assert get(f"{base}/export/file/1.fasta?ranks=9", "t0ken-of-the-lab")[0] == 400
        assert get(f"{base}/file/9", "t0ken-of-the-lab")[0] == 404
        # Read-only: nothing else than GET and HEAD.
        request = urllib.request.Request(f"{base}/file/1", method="POST", headers={"X-Vidjil-Token": "x"})
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(request, timeout=10)
    finally:
        server.terminate()
        log = server.communicate(timeout=10)[1]
    assert "vidjil view: 3 .vidjil files on http://127.0.0.1:" in log
    assert "Traceback" not in log and " 500 " not in log, log
    # The files were only read: none changed, none added beside them.
    assert files_in(folder) == listing and {p: sha256(p) for p in folder.iterdir()} == sums


def test_the_app_factory_serves_files_with_error_pages_leading_back(tmp_path: Path) -> None:
    sample, fused = tmp_path / "s.vidjil", tmp_path / "f.vidjil"
    sample.write_text(json.dumps(reference_style_sample()))
    fused.write_text(json.dumps(reference_style_fused()))
    client = create_app(files=[sample, fused, sample]).test_client()  # the same file twice: once
    home = client.get("/").data.decode()
    assert home.count('href="/file/') == 2 and 'action="/search"' not in home
    missing = client.get("/file/1/clone/42")
    assert missing.status_code == 404 and 'href="/file/1">Back to the file' in missing.data.decode()
    assert 'href="/">Back to the files' in client.get("/nowhere").data.decode()
    # A file changed into something else after the start: an error for that file only.
    sample.write_text("not json")
    broken = client.get("/file/1")
    assert broken.status_code == 503 and "s.vidjil cannot be read" in broken.data.decode()
    assert client.get("/file/2").status_code == 200
    with pytest.raises(ValueError):
        create_app()


def test_what_a_file_says_is_escaped(tmp_path: Path) -> None:
    xss = "<script>alert(1)</script>"
    fused = reference_style_fused()
    fused["samples"]["original_names"][1] = xss
    fused["info"] = xss
    fused["clones"][1]["name"] = xss
    sample = reference_style_sample()
    sample["samples"]["original_names"] = [xss]
    sample["clones"][0]["name"] = xss
    paths = [tmp_path / "f.vidjil", tmp_path / "s.vidjil"]
    for path, doc in zip(paths, [fused, sample], strict=True):
        path.write_text(json.dumps(doc))
    client = create_app(files=paths).test_client()
    for url in ["/", "/file/1", "/file/2", "/file/2/clone/2", "/compare/file/1?tops=1,2"]:
        page = client.get(url)
        assert page.status_code == 200 and xss not in page.data.decode(), url
    assert "&lt;script&gt;" in client.get("/file/1").data.decode()


@pytest.mark.parametrize(
    "content",
    [
        '{"clones": [',  # not JSON
        "[1, 2, 3]",  # JSON, not a document
        '{"clones": [], "germlines": {}}',  # no reads (a .analysis file, say)
        '{"clones": [{"id": 7, "reads": [1]}], "reads": {"total": [1], "segmented": [1]}}',  # a clone without id
    ],
)
def test_a_file_that_is_not_a_vidjil_is_refused_at_start(tmp_path: Path, content: str) -> None:
    good = tmp_path / "good.vidjil"
    good.write_text(json.dumps(reference_style_sample()))
    bad = tmp_path / "bad.vidjil"
    bad.write_text(content)
    run = run_vidjil("view", str(good), str(bad), "--port", str(free_port()))
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith(f"vidjil: error: {bad}: "), run.stderr


def test_missing_files_and_folders_among_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.vidjil"
    good.write_text(json.dumps(reference_style_sample()))
    missing = tmp_path / "missing.vidjil"
    run = run_vidjil("view", str(good), str(missing))
    assert run.returncode == 2 and run.stderr == f"vidjil: error: {missing}: no such file or folder\n"
    run = run_vidjil("view", str(good), str(tmp_path))
    assert run.returncode == 2 and run.stderr.startswith(f"vidjil: error: {tmp_path}: a results folder is viewed alone")
    run = run_vidjil("view", str(tmp_path))  # a folder without an index: as before
    assert run.returncode == 2 and "no index.sqlite" in run.stderr and run.stderr.count("\n") == 1
