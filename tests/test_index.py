"""The SQLite index on a real demo run: rebuild, idempotence, removed results,
search, list/show, export and import of a set (tampered archives refused), backup,
and readers during a rebuild (WAL: the old or the new state, never a mix)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest
from helpers import DEMO_SAMPLES, leukemic_junction
from helpers import run_vidjil as run

from vidjil.index import SCHEMA_VERSION

SAMPLES = DEMO_SAMPLES
# The demo's leukemic clone has no read in follow-up 3 (negative).
WITH_LEUKEMIC = [s for s in SAMPLES if s != "P1-followup-3"]


@pytest.fixture
def results(demo: Path, tmp_path: Path) -> Path:
    """A private copy of the demo's results (tests change them)."""
    copy = tmp_path / "results"
    shutil.copytree(demo / "results", copy)
    return copy


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as con:
        return con.execute(query).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_workflow_run_is_indexed(demo: Path) -> None:
    db = demo / "results" / "index.sqlite"
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    (run_row,) = rows(db, "SELECT id, status, tool_version, germline_id, germline_checksum, profile FROM runs")
    assert run_row[1] == "completed" and run_row[3].startswith("genairr-2.3.1/") and run_row[4].startswith("sha256:")
    assert run_row[5] == "local"
    assert rows(db, "SELECT name, type FROM sample_sets ORDER BY name") == [
        ("P1", "patient"),
        ("run-2026-05", "run"),
        ("run-2026-11", "run"),
    ]
    assert rows(db, "SELECT sample, position FROM set_members WHERE sample_set = 'P1' ORDER BY position") == [
        (name, k) for k, name in enumerate(SAMPLES, start=1)
    ]
    files = rows(db, "SELECT sample, size, sha256 FROM read_files ORDER BY sample")
    reads = demo / "resources/demo/reads"
    assert files == [(s, (reads / f"{s}.fastq.gz").stat().st_size, digest(reads / f"{s}.fastq.gz")) for s in SAMPLES]
    results = rows(db, "SELECT sample, vidjil, vidjil_sha256, reads_total, clones FROM results ORDER BY sample")
    for _, vidjil, sha, total, clones in results:
        doc = json.loads((demo / "results" / str(vidjil)).read_text())
        assert sha == digest(demo / "results" / str(vidjil))
        assert total == doc["reads"]["total"][0] and clones == len(doc["clones"])
    assert rows(db, "SELECT count(*) FROM clones")[0][0] == 500  # top 100 of each sample
    top = rows(db, "SELECT locus, v, junction, reads FROM clones WHERE rank = 1 ORDER BY result")[0]
    assert top[0] == "IGH" and top[1].startswith("IGHV") and top[3] > 3000


def test_rebuild_is_idempotent_and_follows_removed_results(results: Path) -> None:
    db = results / "index.sqlite"
    first = run("index", "rebuild", str(results))
    assert first.returncode == 0 and "unchanged" in first.stderr
    before = db.read_bytes()
    assert "unchanged" in run("index", "rebuild", str(results)).stderr
    assert db.read_bytes() == before
    shutil.rmtree(results / "multi+inc" / "samples" / "P1-followup-2")
    assert "updated" in run("index", "rebuild", str(results)).stderr
    left = [s for s in SAMPLES if s != "P1-followup-2"]
    assert [r[0] for r in rows(db, "SELECT sample FROM results ORDER BY sample")] == left
    db.unlink()
    assert "updated" in run("index", "rebuild", str(results)).stderr
    assert len(rows(db, "SELECT * FROM results")) == len(left)


def test_search_finds_the_leukemic_clone_in_all_its_samples(demo: Path) -> None:
    db = demo / "results" / "index.sqlite"
    fused = json.loads((demo / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    aa = leukemic["seg"]["junction"]["aa"]
    found = run("index", "search", "--db", str(db), "--junction-aa", aa, "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    by_sample = {h["sample"]: h for h in hits if h["junction_aa"] == aa}
    assert sorted(by_sample) == WITH_LEUKEMIC
    assert [by_sample[s]["reads"] for s in WITH_LEUKEMIC] == [r for r in leukemic["reads"] if r]
    # The 0.01% follow-up is too small to be designated there: found through its set.
    assert by_sample["P1-diagnosis"]["found_in"] == "sample" and by_sample["P1-followup-2"]["found_in"] == "set P1"
    by_nt = json.loads(run("index", "search", "--db", str(db), "--junction", junction, "--json").stdout)
    assert {h["sample"] for h in by_nt} == set(WITH_LEUKEMIC)
    v_gene = leukemic["seg"]["5"]["name"].split("*")[0]
    by_v = json.loads(run("index", "search", "--db", str(db), "--v", v_gene, "--json").stdout)
    assert {h["sample"] for h in by_v} >= set(WITH_LEUKEMIC) and all(h["v"].startswith(v_gene) for h in by_v)
    nothing = run("index", "search", "--db", str(db), "--junction-aa", "CASSXXXXF")
    assert nothing.returncode == 0 and nothing.stdout.strip() == "(none)"


def test_search_by_substring_in_any_case_and_by_gene_prefix(demo: Path) -> None:
    from vidjil.index import next_string, search

    db = demo / "results" / "index.sqlite"
    fused = json.loads((demo / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    junction = leukemic_junction(demo)
    (leukemic,) = [c for c in fused["clones"] if junction in c["sequence"]]
    aa = leukemic["seg"]["junction"]["aa"]
    # A piece of the junction, in lower case ('*' and '#' are letters here, not wildcards).
    hits = search(db, aa[2:9].lower(), None, None)
    assert {h["sample"] for h in hits if h["junction_aa"] == aa} == set(WITH_LEUKEMIC)
    assert all(aa[2:9] in h["junction_aa"] for h in hits)
    assert {h["sample"] for h in search(db, None, junction[5:30].lower(), None)} == set(WITH_LEUKEMIC)
    assert search(db, "%", None, None) == [] and search(db, "_", None, None) == []
    # A hit says where its rank is: in the sample (with its result id) or in a set.
    own = next(h for h in hits if h["sample"] == "P1-diagnosis" and h["junction_aa"] == aa)
    assert own["found_in"] == "sample" and own["sample_set"] is None and own["rank"] >= 1
    assert rows(db, f"SELECT sample FROM results WHERE id = {int(own['result'])}") == [("P1-diagnosis",)]
    followed = next(h for h in hits if h["sample"] == "P1-followup-2" and h["junction_aa"] == aa)
    assert followed["sample_set"] == "P1" and followed["rank"] == leukemic["top"] and followed["result"] is None
    assert rows(db, f"SELECT sample_set FROM fused WHERE id = {int(followed['fused'])}") == [("P1",)]
    # A V gene by prefix: the family finds its genes, an allele only itself.
    family = leukemic["seg"]["5"]["name"].split("-")[0]  # IGHV1-69*08 -> IGHV1
    by_family = search(db, None, None, family)
    assert leukemic["seg"]["5"]["name"] in {h["v"] for h in by_family}
    assert all(h["v"].startswith(family) for h in by_family)
    allele = leukemic["seg"]["5"]["name"]
    assert {h["v"] for h in search(db, None, None, allele)} == {allele}
    assert next_string("IGHV3") == "IGHV4" and next_string("IGHV1-69") == "IGHV1-6:"


def test_list_and_show(demo: Path) -> None:
    db = demo / "results" / "index.sqlite"
    listed = json.loads(run("index", "list", "--db", str(db), "--json").stdout)
    assert [s["name"] for s in listed["samples"]] == SAMPLES and len(listed["runs"]) == 1
    assert {s["name"]: s["samples"] for s in listed["sets"]} == {"P1": 5, "run-2026-05": 2, "run-2026-11": 2}
    shown = json.loads(run("index", "show", "P1", "--db", str(db)).stdout)
    assert [s["name"] for s in shown["samples"]] == SAMPLES
    assert [f["vidjil"] for f in shown["fused"]] == ["multi+inc/sets/P1/P1.fused.vidjil"]
    assert {f["kind"] for f in shown["files"]} == {"airr", "diversity", "report", "mrd", "markers", "alerts"}
    assert [(a["sample"], a["code"]) for a in shown["alerts"]] == [("P1-followup-4", "W91")] * 2
    assert {m["status"] for m in shown["mrd"]} == {"positive", "positive-not-quantifiable", "negative"}
    missing = run("index", "show", "nope", "--db", str(db))
    assert missing.returncode == 2 and "no sample set 'nope'" in missing.stderr


def test_export_then_import_into_an_empty_results_folder(demo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "P1.tar.gz"
    exported = run("export-set", "P1", "-o", str(archive), "--results", str(demo / "results"))
    assert exported.returncode == 0, exported.stderr
    target = tmp_path / "imported"
    dry = run("import-set", str(archive), "--results", str(target), "--dry-run")
    assert dry.returncode == 0 and "would write" in dry.stderr and not target.exists()
    done = run("import-set", str(archive), "--results", str(target))
    assert done.returncode == 0, done.stderr
    source_db, target_db = demo / "results/index.sqlite", target / "index.sqlite"
    query = "SELECT run, analysis, sample, vidjil, vidjil_sha256, reads_total, clones FROM results ORDER BY sample"
    assert rows(target_db, query) == rows(source_db, query)
    fused = "SELECT run, analysis, sample_set, vidjil, sha256 FROM fused WHERE sample_set = 'P1'"
    assert rows(target_db, fused) == rows(source_db, fused)
    for path in (target / "multi+inc").rglob("*.*"):
        assert digest(path) == digest(demo / "results" / path.relative_to(target))
    again = run("import-set", str(archive), "--results", str(target))
    assert again.returncode == 0 and "wrote 0 files" in again.stderr
    assert rows(target_db, "SELECT count(*) FROM results") == [(len(SAMPLES),)]


def test_a_tampered_archive_is_refused_with_nothing_written(demo: Path, tmp_path: Path) -> None:
    archive = tmp_path / "P1.tar.gz"
    assert run("export-set", "P1", "-o", str(archive), "--results", str(demo / "results")).returncode == 0
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(tampered, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member)
            content = data.read() if data else b""
            if member.name.endswith("P1-followup-2.vidjil"):
                content = content.replace(b'"reads"', b'"Reads"', 1)
            member.size = len(content)
            out.addfile(member, __import__("io").BytesIO(content))
    target = tmp_path / "imported"
    result = run("import-set", str(tampered), "--results", str(target))
    assert result.returncode == 2 and "does not match its checksum" in result.stderr
    assert not target.exists()
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    assert run("import-set", str(garbage), "--results", str(target)).returncode == 2 and not target.exists()


def test_backup_is_a_checked_copy(demo: Path, tmp_path: Path) -> None:
    db = demo / "results" / "index.sqlite"
    done = run("index", "backup", str(tmp_path), "--db", str(db))
    assert done.returncode == 0 and "integrity ok" in done.stderr
    copy = tmp_path / "index.sqlite"
    assert rows(copy, "PRAGMA integrity_check") == [("ok",)]
    assert rows(copy, "SELECT * FROM results ORDER BY id") == rows(db, "SELECT * FROM results ORDER BY id")


def test_readers_see_the_old_or_the_new_index_during_a_rebuild(results: Path) -> None:
    from vidjil.index import rebuild

    db = results / "index.sqlite"
    full = rows(db, "SELECT count(*) FROM clones")[0][0]
    removed = results / "multi+inc" / "samples" / "P1-followup-2"
    kept = results.parent / "kept"
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        while not stop.is_set():
            seen.add(con.execute("SELECT count(*) FROM clones").fetchone()[0])
        con.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(4):
            shutil.move(removed, kept)
            rebuild(results, db)
            shutil.move(kept, removed)
            rebuild(results, db)
    finally:
        stop.set()
        thread.join()
    assert seen == {full, full - 100}, seen


def test_an_index_of_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for args in (["list"], ["show", "P1"], ["search", "--v", "IGHV1"]):
        result = run("index", *args, "--db", str(db))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "index schema 1" in result.stderr and "vidjil index rebuild" in result.stderr


def test_substring_search_through_the_full_text_tables_finds_what_a_scan_finds(demo: Path) -> None:
    from vidjil.index import search

    db = demo / "results" / "index.sqlite"
    junction = leukemic_junction(demo)
    every = rows(db, "SELECT junction, junction_aa FROM clones UNION ALL SELECT junction, junction_aa FROM followed")
    for column, text in [("junction", junction), ("junction_aa", "")]:
        if column == "junction_aa":
            text = next(aa for nt, aa in every if nt == junction)
        for start, length in ((0, 1), (3, 2), (2, 3), (5, 7), (1, 12), (4, 20), (0, len(text))):
            piece = str(text)[start : start + length].lower()
            found = search(
                db, piece if column == "junction_aa" else None, piece if column == "junction" else None, None
            )
            expected = {
                (nt, aa) for nt, aa in every if piece.upper() in str(nt if column == "junction" else aa or "").upper()
            }
            shown = {h["junction_aa"] for h in found}
            assert shown == {aa for _, aa in expected}, (column, piece)


def test_the_index_is_made_with_sqlite_utils_and_a_new_run_writes_its_own_rows(demo: Path, results: Path) -> None:
    """Issue 18: tables, indexes, views and full-text tables made by sqlite-utils; an
    index of schema 3 is rebuilt; a new run keeps the ids of what was indexed and
    writes its own rows only (temporary triggers count them)."""
    from sqlite_utils import Database

    from vidjil import layout
    from vidjil.index import FTS_TABLES, TABLES, VIEWS, _known_ids, describe_run, index_rows, open_index, write_rows

    db = results / "index.sqlite"
    database = Database(db)
    assert set(TABLES) <= set(database.table_names()) and set(FTS_TABLES) <= set(database.table_names())
    assert sorted(database.view_names()) == sorted(VIEWS)
    assert database["clones"].detect_fts() == "clones_fts" and database["followed"].detect_fts() == "followed_fts"
    assert {t.name for t in database["clones"].triggers} == {"clones_ai", "clones_ad", "clones_au"}
    assert database["results"].pks == ["id"] and database["clones"].pks == ["result", "rank"]
    assert any(i.unique and i.columns == ["run", "analysis", "sample"] for i in database["results"].indexes)
    patients = database.execute("SELECT patient, sample FROM patient_samples ORDER BY position").fetchall()
    assert patients == [("P1", s) for s in SAMPLES]
    statuses = database.execute("SELECT sample, status FROM mrd_followup WHERE marker = 1 ORDER BY date").fetchall()
    assert [s for _, s in statuses][:2] == ["positive", "positive"]
    database.close()

    ids = dict(rows(db, "SELECT sample, id FROM results"))
    # A second run with one new sample (the results of the diagnosis, renamed).
    analysis = results / "multi+inc" / "samples"
    shutil.copytree(analysis / "P1-diagnosis", analysis / "P1-followup-5")
    for path in (analysis / "P1-followup-5").iterdir():
        path.rename(path.with_name(path.name.replace("P1-diagnosis", "P1-followup-5")))
    sheet = results.parent / "samples-run2.tsv"
    sheet.write_text("sample\treads\tsets\tdate\nP1-followup-5\t\tP1\t2027-02-01\n")
    description = results / layout.run_description("run-2")
    description.parent.mkdir(parents=True)
    description.write_text(json.dumps(describe_run("run-2", sheet, None, {}, results)))
    database = open_index(db)
    # Temporary triggers log every row written to the tables of the index.
    database.execute("CREATE TEMP TABLE written (name TEXT)")
    for name in TABLES:
        for event in ("INSERT", "UPDATE", "DELETE"):
            database.execute(
                f"CREATE TEMP TRIGGER log_{name}_{event} AFTER {event} ON main.[{name}]"
                f" BEGIN INSERT INTO written VALUES ('{name}'); END"
            )
    changed = write_rows(database, index_rows(results, _known_ids(database)))
    written = dict(database.execute("SELECT name, count(*) FROM written GROUP BY name").fetchall())
    database.close()
    assert changed
    assert {s: i for s, i in rows(db, "SELECT sample, id FROM results") if s in ids} == ids
    assert dict(rows(db, "SELECT sample, id FROM results"))["P1-followup-5"] == max(ids.values()) + 1
    # The new run, its sample, its membership, its result and the result's 100 clones.
    assert written == {"runs": 1, "samples": 1, "set_members": 1, "results": 1, "clones": 100}, written
    database = open_index(db)
    assert not write_rows(database, index_rows(results, _known_ids(database)))  # nothing changed: no write
    database.close()
    # The full-text table follows the upserts (its triggers): the new sample is found.
    found = run("index", "search", "--db", str(db), "--junction", leukemic_junction(demo), "--json")
    assert "P1-followup-5" in found.stdout, found.stderr


def test_an_index_of_schema_3_is_rebuilt(results: Path) -> None:
    db = results / "index.sqlite"
    db.unlink()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('schema_version', '3')")
        con.execute("CREATE TABLE clones (result INTEGER, rank INTEGER)")
    done = run("index", "rebuild", str(results))
    assert done.returncode == 0 and "updated" in done.stderr, done.stderr
    assert rows(db, "SELECT value FROM meta") == [(str(SCHEMA_VERSION),)]
    assert rows(db, "SELECT count(*) FROM clones")[0][0] == 500
