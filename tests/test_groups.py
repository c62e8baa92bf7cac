"""Groups (issue 20): sets belong to groups, team tokens see only their groups,
anonymous tokens see pseudonyms, revocation is immediate, every request is logged
with the token's name, and a group is exported and imported into another results
folder and group.

The results are a real workflow run (the demo's reads under new names): two
patients of two teams, and a run set of the sequencing platform holding a sample
of each patient."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import LOCAL, run_vidjil, serving, snakemake

from vidjil.index import rebuild
from vidjil.pseudonyms import pseudonym
from webui import create_app

SAMPLES = {
    "PAT-HEMA-dx": ("P1-diagnosis", "PAT-HEMA;RUN-SHARED", "2026-01-12"),
    "PAT-HEMA-fu": ("P1-followup-1", "PAT-HEMA", "2026-03-02"),
    "PAT-IMMU-dx": ("P1-followup-2", "PAT-IMMU;RUN-SHARED", "2026-05-18"),
    "PAT-IMMU-fu": ("P1-followup-4", "PAT-IMMU", "2026-11-16"),
}
SETS = (
    "set\ttype\tgroup\tinfo\nPAT-HEMA\tpatient\themato\tINFO-SECRET-hema\nPAT-IMMU\tpatient\timmuno\tINFO-SECRET-immu\n"
)
SETS += "RUN-SHARED\trun\tplatform\tINFO-SECRET-run\n"
HEMA, IMMU = ["PAT-HEMA-dx", "PAT-HEMA-fu"], ["PAT-IMMU-dx", "PAT-IMMU-fu"]
# Every real name and info field: none may reach an anonymous token.
REAL = re.compile(r"PAT-HEMA|PAT-IMMU|RUN-SHARED|INFO-SECRET")


@pytest.fixture(scope="module")
def teams(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workflow run on the two teams' sheets (the demo's reads)."""
    work = tmp_path_factory.mktemp("teams")
    rows = [
        f"{name}\t{demo / 'resources/demo/reads' / (reads + '.fastq.gz')}\t{sets}\t{date}\tINFO-SECRET-{name}"
        for name, (reads, sets, date) in SAMPLES.items()
    ]
    (work / "samples.tsv").write_text("sample\treads\tsets\tdate\tinfo\n" + "\n".join(rows) + "\n")
    (work / "sets.tsv").write_text(SETS)
    (work / "config.yaml").write_text("samples: samples.tsv\nsets: sets.tsv\nanalyses: [multi]\n")
    done = snakemake(work, *LOCAL, "--configfile", str(work / "config.yaml"))
    assert done.returncode == 0, done.stderr[-3000:]
    return work / "results"


def new_token(tokens: Path, name: str, groups: str, *extra: str) -> str:
    done = run_vidjil("token", "new", name, "--groups", groups, "--tokens-file", str(tokens), *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    made = {
        "hema": new_token(path, "hema", "hemato"),
        "immu": new_token(path, "immu", "immuno"),
        "platform": new_token(path, "platform", "hemato,immuno,platform"),
        "platform-only": new_token(path, "platform-only", "platform"),
        "all": new_token(path, "all", "*"),
        "collab": new_token(path, "collab", "*", "--anonymous"),
        "collab-hema": new_token(path, "collab-hema", "hemato", "--anonymous"),
    }
    return path, made


def ids(results: Path) -> dict[str, Any]:
    with sqlite3.connect(results / "index.sqlite") as con:
        return {
            "results": dict(con.execute("SELECT sample, id FROM results").fetchall()),
            "fused": dict(con.execute("SELECT sample_set, id FROM fused").fetchall()),
        }


def routes_of_sample(result_id: int) -> list[str]:
    return [
        f"/sample/{result_id}",
        f"/sample/{result_id}?sort=reads&order=desc&q=IGH",
        f"/clone/{result_id}/1",
        f"/compare/result/{result_id}?ranks=1,2",
        *(f"/export/result/{result_id}.{fmt}?ranks=1,2" for fmt in ("fasta", "airr.tsv", "csv")),
        *(f"/download/result/{result_id}/{kind}" for kind in ("vidjil", "airr", "stats")),
    ]


def routes_of_set(name: str, fused_id: int) -> list[str]:
    kinds = ("vidjil", "airr", "report", "mrd", "markers", "alerts", "diversity", "contamination")
    return [
        f"/set/{name}",
        f"/set/{name}?analysis=multi",
        f"/compare/fused/{fused_id}?tops=1,2",
        *(f"/export/fused/{fused_id}.{fmt}?tops=1,2" for fmt in ("fasta", "airr.tsv", "csv")),
        *(f"/download/fused/{fused_id}/{kind}" for kind in kinds),
    ]


def routes(results: Path, samples: list[str], sets: list[str]) -> list[str]:
    found = ids(results)
    urls = [u for s in samples for u in routes_of_sample(found["results"][s])]
    urls += [u for s in sets for u in routes_of_set(s, found["fused"][s])]
    return [u for u in urls if "contamination" not in u or "RUN" in u or "/3/" in u]


def missing_like(url: str) -> str:
    """The same route with ids and names that exist nowhere."""
    return re.sub(r"/(\d+)", "/99999", re.sub(r"/set/[^?]+", "/set/NO-SUCH-SET", url))


def get(client: Any, url: str, token: str) -> Any:
    return client.get(url, headers={"X-Vidjil-Token": token})


def test_groups_are_in_the_index_and_its_commands(teams: Path) -> None:
    db = str(teams / "index.sqlite")
    with sqlite3.connect(db) as con:
        assert dict(con.execute("SELECT sample_set, group_name FROM set_groups").fetchall()) == {
            "PAT-HEMA": "hemato",
            "PAT-IMMU": "immuno",
            "RUN-SHARED": "platform",
        }
    listed = json.loads(run_vidjil("index", "list", "--db", db, "--json", "--group", "hemato").stdout)
    assert [s["name"] for s in listed["sets"]] == ["PAT-HEMA"] and listed["sets"][0]["group"] == "hemato"
    assert [s["name"] for s in listed["samples"]] == HEMA and len(listed["runs"]) == 1
    # The run set mixes both patients: a token of both groups and of the platform sees it; the platform alone, nothing.
    assert json.loads(run_vidjil("index", "list", "--db", db, "--json", "--group", "platform").stdout) == {
        "runs": [],
        "sets": [],
        "samples": [],
    }
    everything = json.loads(run_vidjil("index", "list", "--db", db, "--json").stdout)
    assert {s["name"]: s["group"] for s in everything["sets"]}["RUN-SHARED"] == "platform"
    shown = json.loads(run_vidjil("index", "show", "PAT-IMMU", "--db", db, "--group", "immuno").stdout)
    assert shown["set"]["group"] == "immuno" and [s["name"] for s in shown["samples"]] == IMMU
    refused = run_vidjil("index", "show", "PAT-IMMU", "--db", db, "--group", "hemato")
    assert refused.returncode == 2 and "no sample set 'PAT-IMMU' that group 'hemato' sees" in refused.stderr
    hits = json.loads(run_vidjil("index", "search", "--db", db, "--v", "IGHV", "--json", "--group", "hemato").stdout)
    every = json.loads(run_vidjil("index", "search", "--db", db, "--v", "IGHV", "--json").stdout)
    assert hits and {h["sample"] for h in hits} == set(HEMA) and len(hits) < len(every)
    assert {h["sample"] for h in every} == set(SAMPLES)
    bad = run_vidjil("index", "list", "--db", db, "--group", "no/such")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def test_a_bad_group_in_the_sets_sheet_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "samples.tsv").write_text("sample\tsets\nS1\tA\n")
    (tmp_path / "sets.tsv").write_text("set\ttype\tgroup\nA\tpatient\thema to\n")
    done = run_vidjil(
        "index", "add", str(tmp_path / "results"), "--run", "r1",
        "--samples", str(tmp_path / "samples.tsv"), "--sets", str(tmp_path / "sets.tsv"),
    )  # fmt: skip
    assert done.returncode == 2 and "sets.tsv, row 2: group 'hema to'" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and not (tmp_path / "results/.runs").exists()


def test_the_tokens_file_keeps_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    token = new_token(path, "hema", "hemato,immuno")
    assert len(token) >= 40 and token not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    doc = json.loads(path.read_text())
    assert [(t["name"], t["groups"], t["anonymous"]) for t in doc["tokens"]] == [("hema", ["hemato", "immuno"], False)]
    import hashlib

    assert doc["tokens"][0]["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    again = run_vidjil("token", "new", "hema", "--groups", "x", "--tokens-file", str(path))
    assert again.returncode == 2 and "a token named 'hema' exists" in again.stderr and again.stdout == ""
    for groups in ("", "a b", "../x"):
        bad = run_vidjil("token", "new", "other", "--groups", groups, "--tokens-file", str(path))
        assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1, groups
    revoked = run_vidjil("token", "revoke", "hema", "--tokens-file", str(path))
    assert revoked.returncode == 0
    listed = run_vidjil("token", "list", "--tokens-file", str(path)).stdout.splitlines()
    assert listed[0].split("\t") == ["name", "groups", "anonymous", "created", "revoked"]
    assert listed[1].startswith("hema\themato,immuno\tno\t") and re.search(r"\t20\d\d-\S+Z$", listed[1])
    assert run_vidjil("token", "revoke", "nobody", "--tokens-file", str(path)).returncode == 2
    # Readable by others: refused (it holds the pseudonyms' secret), by the viewer too.
    path.chmod(0o644)
    listed = run_vidjil("token", "list", "--tokens-file", str(path))
    assert listed.returncode == 2 and "readable by other accounts" in listed.stderr
    results = tmp_path / "results"
    results.mkdir()
    rebuild(results, results / "index.sqlite")
    view = run_vidjil("view", str(results), "--tokens-file", str(path), "--port", "1")
    assert view.returncode == 2 and "readable by other accounts (mode 644)" in view.stderr
    path.write_text("{not json")
    path.chmod(0o600)
    view = run_vidjil("view", str(results), "--tokens-file", str(path), "--port", "1")
    assert view.returncode == 2 and f"{path}: not a tokens file" in view.stderr


def test_each_team_token_sees_its_groups_only(teams: Path, tokens: tuple[Path, dict[str, str]]) -> None:
    path, made = tokens
    client = create_app(teams, tokens_file=path).test_client()
    own = {"hema": (HEMA, ["PAT-HEMA"]), "immu": (IMMU, ["PAT-IMMU"])}
    for name, (samples, sets) in own.items():
        (other_samples, other_sets) = own["immu" if name == "hema" else "hema"]
        for url in routes(teams, samples, sets):
            assert get(client, url, made[name]).status_code == 200, (name, url)
        for url in routes(teams, other_samples, [*other_sets, "RUN-SHARED"]):
            answer = get(client, url, made[name])
            missing = get(client, missing_like(url), made[name])
            assert answer.status_code == 404 == missing.status_code, (name, url)
            # Nothing tells an existing item of another group from a missing one.
            message = re.search(r'<p class="error">(.*?)</p>', answer.data.decode())
            assert message and message.group(1) in missing.data.decode(), url
        home = get(client, "/", made[name]).data.decode()
        assert all(s in home for s in samples + sets)
        assert not any(s in home for s in other_samples + other_sets + ["RUN-SHARED"]), name
        search = get(client, "/search?v=IGHV", made[name]).data.decode()
        found = set(re.findall(r"<tr><td>([^<]+)</td>", search))
        assert found == set(samples), (name, found)
        assert not any(s in search for s in other_samples + other_sets), name
        # The sample page lists only the sets it may open (not the run set).
        page = get(client, f"/sample/{ids(teams)['results'][samples[0]]}", made[name]).data.decode()
        assert "RUN-SHARED" not in page and f"/set/{sets[0]}" in page
    # The run set: seen by a token of both patients' groups (and of its own), not by its group alone.
    for url in routes(teams, list(SAMPLES), ["PAT-HEMA", "PAT-IMMU", "RUN-SHARED"]):
        assert get(client, url, made["platform"]).status_code == 200, url
        assert get(client, url, made["all"]).status_code == 200, url
        assert get(client, url, made["platform-only"]).status_code == 404, url
    everything = get(client, "/search?v=IGHV", made["all"]).data.decode()
    assert set(re.findall(r"<tr><td>([^<]+)</td>", everything)) == set(SAMPLES)


def test_a_run_set_given_to_one_team_does_not_open_the_other_teams_samples(teams: Path, tmp_path: Path) -> None:
    """The run set put into hemato's group: hemato still sees neither it (it holds a
    sample of immuno's patient) nor that sample."""
    results = tmp_path / "results"
    shutil.copytree(teams, results)
    (results / ".groups").mkdir()
    (results / ".groups/RUN-SHARED.group").write_text("hemato\n")
    rebuild(results, results / "index.sqlite")
    tokens = tmp_path / "tokens.json"
    hema = new_token(tokens, "hema", "hemato")
    client = create_app(results, tokens_file=tokens).test_client()
    for url in routes(results, ["PAT-IMMU-dx"], ["RUN-SHARED"]):
        assert get(client, url, hema).status_code == 404, url
    assert get(client, "/set/PAT-HEMA", hema).status_code == 200


def links(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r'href="(/[^"#]*)', page)]


def crawl(client: Any, token: str, start: list[str]) -> dict[str, Any]:
    """Every page and download reachable from `start` (and the selections' exports)."""
    seen: dict[str, Any] = {}
    queue = list(start)
    while queue:
        url = queue.pop()
        if url in seen or url.startswith(("/static", "/plotly", "/static-plots")):
            continue
        answer = get(client, url, token)
        seen[url] = answer
        if answer.mimetype == "text/html" and "/download/" not in url:
            page = answer.data.decode()
            queue += [u for u in links(page) if u not in seen and "page=" not in u and "sort=" not in u]
            for base, param in re.findall(r'data-export="([^"]+)"[^>]*data-param="([^"]+)"', page):
                queue += [f"{base}.{fmt}?{param}=1,2" for fmt in ("fasta", "airr.tsv", "csv")]
            for base, param in re.findall(r'data-compare="([^"]+)" data-param="([^"]+)"', page):
                queue.append(f"{base}?{param}=1,2")
    return seen


def test_an_anonymous_token_reads_no_real_name(teams: Path, tokens: tuple[Path, dict[str, str]]) -> None:
    path, made = tokens
    client = create_app(teams, tokens_file=path).test_client()
    secret = json.loads(path.read_text())["secret"]
    aa = json.loads((teams / "multi/sets/PAT-HEMA/PAT-HEMA.fused.vidjil").read_text())["clones"][0]["seg"]
    start = ["/", "/search?v=IGHV", f"/search?junction_aa={aa['junction']['aa'][2:8]}", "/sample/99999", "/nowhere"]
    pages = crawl(client, made["collab"], start)
    kinds = {re.sub(r"\d+", "N", u.split("?")[0]) for u in pages}
    expected = {"/set/set-", "/sample/N", "/clone/N/N", "/download/result/N/vidjil", "/download/fused/N/report"}
    assert all(any(k.startswith(e) for k in kinds) for e in expected), kinds
    assert len({u.split("?")[0] for u in pages if u.startswith("/set/")}) == 3 and len(pages) > 60
    for url, answer in pages.items():
        assert answer.status_code in (200, 404), (url, answer.status_code)
        text = answer.data.decode() + str(answer.headers)
        assert not REAL.search(text), (url, REAL.search(text))
    # Names became stable pseudonyms: the same in every place, the HMAC of the name under the file's secret.
    hema = pseudonym(secret, "PAT-HEMA", "set")
    dx = pseudonym(secret, "PAT-HEMA-dx", "sample")
    vidjil = json.loads(pages[f"/download/fused/{ids(teams)['fused']['PAT-HEMA']}/vidjil"].data)
    assert vidjil["samples"]["original_names"] == [dx, pseudonym(secret, "PAT-HEMA-fu", "sample")]
    assert vidjil["_set"]["name"] == hema and "info" not in vidjil["samples"] and "info" not in vidjil["_set"]
    airr = pages[f"/download/result/{ids(teams)['results']['PAT-HEMA-dx']}/airr"]
    assert f'filename="{dx}.airr.tsv"' in airr.headers["Content-Disposition"]
    assert airr.data.decode().splitlines()[1].startswith(f"{dx}-1\t")
    fused_airr = pages[f"/export/fused/{ids(teams)['fused']['PAT-HEMA']}.airr.tsv?tops=1,2"].data.decode()
    header = fused_airr.splitlines()[0].split("\t")
    values = dict(zip(header, fused_airr.splitlines()[1].split("\t"), strict=False))
    assert values.get("sample", dx) in (dx, pseudonym(secret, "PAT-HEMA-fu", "sample"))
    report = pages[f"/download/fused/{ids(teams)['fused']['PAT-HEMA']}/report"]
    assert hema in report.data.decode() and "sandbox" in report.headers["Content-Security-Policy"]
    # A restart (a new app on the same tokens file) shows the same pseudonyms; a real name in an address is no set.
    again = create_app(teams, tokens_file=path).test_client()
    assert f"/set/{hema}" in get(again, "/", made["collab"]).data.decode()
    assert get(again, f"/set/{hema}", made["collab"]).status_code == 200
    assert get(again, "/set/PAT-HEMA", made["collab"]).status_code == 404
    # An anonymous token of one group: its group only, pseudonyms too.
    limited = crawl(client, made["collab-hema"], ["/"])
    assert {u.split("?")[0] for u in limited if u.startswith("/set/")} == {f"/set/{hema}"}
    assert not any(REAL.search(a.data.decode()) for a in limited.values())


def test_names_of_other_groups_in_a_visible_file_are_pseudonyms(teams: Path, tmp_path: Path) -> None:
    """A table of a set a team may see that names another group's patient (the
    contamination table of a run set, a marker's other patients): those names are
    pseudonyms for it, its own names are not."""
    results = tmp_path / "results"
    shutil.copytree(teams, results)
    table = results / "multi/sets/PAT-HEMA/PAT-HEMA.markers.tsv"
    table.write_text(table.read_text().rstrip("\n") + "\tPAT-IMMU-dx (PAT-IMMU, run r1, 5 reads)\n")
    tokens = tmp_path / "tokens.json"
    hema = new_token(tokens, "hema", "hemato")
    client = create_app(results, tokens_file=tokens).test_client()
    text = get(client, f"/download/fused/{ids(results)['fused']['PAT-HEMA']}/markers", hema).data.decode()
    secret = json.loads(tokens.read_text())["secret"]
    assert "PAT-IMMU" not in text and pseudonym(secret, "PAT-IMMU-dx", "sample") in text
    assert pseudonym(secret, "PAT-IMMU", "set") in text


def fetch(url: str, token: str | None = None, cookie: str | None = None) -> int:
    request = urllib.request.Request(url)
    if token:
        request.add_header("X-Vidjil-Token", token)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def served(teams: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    tokens, log = tmp_path / "tokens.json", tmp_path / "access.log"
    new_token(tokens, "bootstrap", "hemato")
    app = create_app(teams, token="single-admin-token", tokens_file=tokens, access_log=log)
    with serving(app) as base:
        yield base, tokens, log


def test_a_revoked_token_stops_at_once(served: tuple[str, Path, Path]) -> None:
    base, tokens, _ = served
    hema = new_token(tokens, "hema", "hemato")  # added while the viewer runs: works at once
    assert fetch(f"{base}/set/PAT-HEMA", hema) == 200
    # A `?token=` link sets the cookie; the cookie works until the token is revoked.
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{base}/?token={hema}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        cookie = exc.headers["Set-Cookie"].split(";")[0]
    assert fetch(f"{base}/set/PAT-HEMA", cookie=cookie) == 200
    assert run_vidjil("token", "revoke", "hema", "--tokens-file", str(tokens)).returncode == 0
    assert fetch(f"{base}/set/PAT-HEMA", hema) == 401
    assert fetch(f"{base}/set/PAT-HEMA", cookie=cookie) == 401
    assert fetch(f"{base}/download/result/1/vidjil", hema) == 401
    # The single --token keeps seeing everything; no token, nothing.
    assert fetch(f"{base}/set/PAT-IMMU", "single-admin-token") == 200
    assert fetch(f"{base}/set/RUN-SHARED", "single-admin-token") == 200
    assert fetch(f"{base}/") == 401


def test_the_access_log_says_who_looked_at_what(served: tuple[str, Path, Path], teams: Path) -> None:
    base, tokens, log = served
    hema = new_token(tokens, "hema-lab", "hemato")
    immu = new_token(tokens, "immu-lab", "immuno")
    dx = ids(teams)["results"]["PAT-HEMA-dx"]
    assert fetch(f"{base}/sample/{dx}", hema) == 200
    assert fetch(f"{base}/sample/{dx}", immu) == 404
    assert fetch(f"{base}/set/PAT-HEMA?analysis=multi", hema) == 200
    with pytest.raises(urllib.error.HTTPError, match="302"):  # a link with the token: kept out of the log
        urllib.request.build_opener(NoRedirect).open(f"{base}/set/PAT-HEMA?token={hema}")
    assert fetch(f"{base}/set/PAT-IMMU", immu) == 200
    assert fetch(f"{base}/", "wrong") == 401
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    assert all(len(line) == 8 for line in lines)
    text = log.read_text()
    assert hema not in text and immu not in text and "token=" not in text and "wrong" not in text
    assert [line[1:6] for line in lines if line[4] == f"/sample/{dx}"] == [
        ["hema-lab", "200", "GET", f"/sample/{dx}", "/sample/<int:result_id>"],
        ["immu-lab", "404", "GET", f"/sample/{dx}", "/sample/<int:result_id>"],
    ]
    # Who looked at patient PAT-HEMA (its set page, or a page of one of its samples):
    who = {line[1] for line in lines if line[2] == "200" and "PAT-HEMA" in line[6].split(",")}
    assert who == {"hema-lab"}
    assert [line[1] for line in lines if line[2] == "401"] == ["(refused)"]


def tar_members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def group_of(results: Path) -> dict[str, str]:
    with sqlite3.connect(results / "index.sqlite") as con:
        return dict(con.execute("SELECT sample_set, group_name FROM set_groups").fetchall())


def test_a_group_is_exported_and_imported_into_another_group(teams: Path, tmp_path: Path) -> None:
    archive = tmp_path / "hemato.tar.gz"
    done = run_vidjil("export-set", "--group", "hemato", "-o", str(archive), "--results", str(teams))
    assert done.returncode == 0 and "export-set: PAT-HEMA:" in done.stderr, done.stderr
    members = tar_members(archive)
    manifest = json.loads(members["manifest.json"])
    assert manifest["sets"] == ["PAT-HEMA"] and manifest["groups"] == {"PAT-HEMA": "hemato"}
    # The run's description is an excerpt: the other team's patient is not in the archive.
    assert not any(REAL.search(c.decode(errors="replace")) and b"PAT-IMMU" in c for c in members.values())
    (run_json,) = [n for n in members if n.endswith("run.json")]
    described = json.loads(members[run_json])
    assert [s["name"] for s in described["samples"]] == HEMA and [s["name"] for s in described["sets"]] == ["PAT-HEMA"]
    other = tmp_path / "other"
    dry = run_vidjil("import-set", str(archive), "--results", str(other), "--group", "lab2", "--dry-run")
    assert dry.returncode == 0 and "would group\tPAT-HEMA\tlab2" in dry.stdout and not other.exists()
    done = run_vidjil("import-set", str(archive), "--results", str(other), "--group", "lab2")
    assert done.returncode == 0, done.stderr
    assert group_of(other) == {"PAT-HEMA": "lab2"}
    for path in (other / "multi").rglob("*.*"):
        assert path.read_bytes() == (teams / path.relative_to(other)).read_bytes(), path
    query = "SELECT sample, analysis, vidjil_sha256, clones FROM results ORDER BY sample"
    with sqlite3.connect(other / "index.sqlite") as a, sqlite3.connect(teams / "index.sqlite") as b:
        assert a.execute(query).fetchall() == [r for r in b.execute(query).fetchall() if r[0] in HEMA]
        members_query = "SELECT sample_set, sample, position FROM set_members WHERE sample_set = 'PAT-HEMA'"
        assert a.execute(members_query).fetchall() == b.execute(members_query).fetchall()
    # The other group, and a set by name, into the same folder: the run descriptions are merged.
    second = tmp_path / "immuno.tar.gz"
    assert run_vidjil("export-set", "--group", "immuno", "-o", str(second), "--results", str(teams)).returncode == 0
    done = run_vidjil("import-set", str(second), "--results", str(other))
    assert done.returncode == 0 and "1 run descriptions merged" in done.stderr, done.stderr
    assert group_of(other) == {"PAT-HEMA": "lab2", "PAT-IMMU": "immuno"}
    listed = json.loads(run_vidjil("index", "list", "--db", str(other / "index.sqlite"), "--json").stdout)
    assert [s["name"] for s in listed["samples"]] == HEMA + IMMU
    # Again: nothing to write. Into another group: refused, nothing changed.
    again = run_vidjil("import-set", str(archive), "--results", str(other), "--group", "lab2")
    assert again.returncode == 0 and "wrote 0 files" in again.stderr
    before = {p: p.read_bytes() for p in other.rglob("*") if p.is_file() and "index.sqlite" not in p.name}
    moved = run_vidjil("import-set", str(archive), "--results", str(other), "--group", "lab3")
    assert moved.returncode == 2 and "set 'PAT-HEMA' is in group 'lab2' here, not 'lab3'" in moved.stderr
    assert len(moved.stderr.splitlines()) == 1
    assert before == {p: p.read_bytes() for p in other.rglob("*") if p.is_file() and "index.sqlite" not in p.name}
    # The imported group's token sees its set in the other folder.
    tokens = tmp_path / "tokens.json"
    lab2 = new_token(tokens, "lab2-team", "lab2")
    client = create_app(other, tokens_file=tokens).test_client()
    assert get(client, "/set/PAT-HEMA", lab2).status_code == 200
    assert get(client, "/set/PAT-IMMU", lab2).status_code == 404


def test_several_sets_at_once_and_bad_requests(teams: Path, tmp_path: Path) -> None:
    archive = tmp_path / "two.tar.gz"
    done = run_vidjil("export-set", "PAT-HEMA", "PAT-IMMU", "-o", str(archive), "--results", str(teams))
    assert done.returncode == 0 and "PAT-HEMA, PAT-IMMU" in done.stderr
    manifest = json.loads(tar_members(archive)["manifest.json"])
    assert manifest["sets"] == ["PAT-HEMA", "PAT-IMMU"]
    assert manifest["groups"] == {"PAT-HEMA": "hemato", "PAT-IMMU": "immuno"}
    other = tmp_path / "other"
    assert run_vidjil("import-set", str(archive), "--results", str(other)).returncode == 0
    assert group_of(other) == {"PAT-HEMA": "hemato", "PAT-IMMU": "immuno"}
    for args, message in [
        (["--group", "nobody"], "no sample set in group 'nobody'"),
        ([], "no set to export"),
        (["--group", "a/b"], "group 'a/b'"),
    ]:
        out = tmp_path / "x.tar.gz"
        bad = run_vidjil("export-set", *args, "-o", str(out), "--results", str(teams))
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.splitlines()) == 1, bad.stderr
        assert not out.exists() and not list(tmp_path.glob(".x.tar.gz*"))
    bad = run_vidjil("import-set", str(archive), "--results", str(tmp_path / "t"), "--group", "../x")
    assert bad.returncode == 2 and not (tmp_path / "t").exists()


SHOTS = Path("/tmp/shots/groups")


def test_the_anonymous_pages_in_chromium(
    browser: Any, teams: Path, tokens: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, made = tokens
    app = create_app(teams, tokens_file=path)
    with serving(app) as base:
        context = browser.new_context()
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/?token={made['collab']}")
        assert not REAL.search(page.content())
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "anonymous-home.png"), full_page=True)
        page.click("text=set-")  # the first set, by its pseudonym
        page.wait_for_selector("#curves .main-svg")
        legend = page.locator("#curves").inner_text()
        assert not REAL.search(page.content()) and not REAL.search(legend)
        page.screenshot(path=str(SHOTS / "anonymous-set.png"), full_page=True)
        page.goto(f"{base}/?token={made['hema']}")
        page.screenshot(path=str(SHOTS / "hema-home.png"), full_page=True)
        assert "PAT-HEMA" in page.content() and "PAT-IMMU" not in page.content()
        context.close()
    assert errors == []
    os.environ.setdefault("VIDJIL_SCREENSHOTS", str(SHOTS))
