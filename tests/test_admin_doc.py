"""docs/admin.md is run, not only read: its shell blocks run in order on a fresh
clone of the project (installation, workflow, backups and restore, moving a set,
upgrade, troubleshooting); the viewer's blocks run as root in an isolated mount
and network namespace with Debian's nginx (and the systemd unit enabled there);
the SLURM block runs in tests/test_slurm.py. The systemd unit is checked against
the command the manual starts the viewer with."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from doc_blocks import ADMIN_DOC, blocks, run, script, settings
from helpers import DEMO_SAMPLES, ROOT, cannot_run

from vidjil.index import SCHEMA_VERSION

UNIT = ROOT / "config" / "systemd" / "vidjil-view.service"
SETTINGS = ["VIDJIL", "VIDJIL_REPO", "DATA", "BACKUP", "RESTORE", "OTHER", "SERVER_NAME", "PATH"]
RAN_HERE = {"", "server"}


def test_every_block_is_run_by_a_test() -> None:
    found = blocks()
    assert settings() == SETTINGS
    assert {b.tag for b in found} <= RAN_HERE | {"slurm"}, [b.tag for b in found]
    sections = {b.section for b in found if b.tag == ""}
    expected = {
        "Installation",
        "Running the workflow",
        "Backups and restore",
        "Groups and team tokens",
        "Troubleshooting",
    }
    assert expected <= sections
    assert [b.section for b in found if b.tag == "slurm"] == ["Running on a SLURM cluster"]
    assert "doc_blocks" in (ROOT / "tests" / "test_slurm.py").read_text()


def doc_env(tmp: Path, vidjil: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(
        VIDJIL=str(vidjil),
        VIDJIL_REPO=str(ROOT),
        DATA=str(tmp / "srv" / "vidjil"),
        BACKUP=str(tmp / "backup"),
        RESTORE=str(tmp / "restore"),
        OTHER=str(tmp / "other"),
        SERVER_NAME="localhost",
        PATH=f"{vidjil}/.venv/bin:{os.environ['PATH']}",
    )
    return env


def test_the_manual_from_installation_to_troubleshooting(tmp_path: Path) -> None:
    vidjil = tmp_path / "opt" / "vidjil"
    env = doc_env(tmp_path, vidjil)
    # The engine's dependencies are compiled once: the clone shares this checkout's
    # cargo target folder (the clone's own crate is still built from its sources).
    env["CARGO_TARGET_DIR"] = str(ROOT / "vidjil_core" / "target")
    selected = [b for b in blocks() if b.tag == "" and b.section]
    done = run(selected, env, tmp_path, timeout=1800)
    assert done.returncode == 0, (done.stderr[-4000:], done.stdout[-2000:])
    data = Path(env["DATA"])
    # The clone was installed and used: its own environment ran the workflow.
    assert (vidjil / ".venv" / "bin" / "vidjil").exists()
    assert (data / "results" / "multi+inc" / "sets" / "P1" / "P1.fused.vidjil").exists()
    assert re.search(rf"^ok    index: .*schema {SCHEMA_VERSION}", done.stdout, re.M)
    # The index queried with sqlite-utils: the patient's samples in order, the alerts, the MRD statuses.
    assert re.search(r"^ +5 +P1-followup-4 +2026-11-16", done.stdout, re.M)
    assert re.search(r"^P1 +P1-followup-4 +W91 +clone 1 ", done.stdout, re.M)
    assert "P1,P1-followup-3,1,negative," in done.stdout
    # Its views and its full-text table: the leukemic junction found from a piece of its D gene.
    assert re.search(r"^mrd_followup$", done.stdout, re.M) and re.search(r"^sample_clones$", done.stdout, re.M)
    assert re.search(r"^ +1 +1 +\*LRW\*LRPDDDAT#DAFDVW +\d{4}$", done.stdout, re.M)
    # The cohort dataset read with pandas: the MRD statuses and each sample's largest clone.
    assert re.search(r"^ *P1 +P1-followup-3 +1 +negative$", done.stdout, re.M)
    assert re.search(r"^ *P1 +P1-diagnosis +IGH +IGHV1-69\S* +\*LRW\*LRPDDDAT#DAFDVW +\d{4}$", done.stdout, re.M)
    assert "cohort: results/cohort: partitions 0 written, 2 unchanged, 0 removed" in done.stderr
    backups = sorted(p.name for p in Path(env["BACKUP"]).iterdir())
    assert [b for b in backups if b.startswith("index-")] and [b for b in backups if b.startswith("results-")]
    restored = sqlite3.connect(Path(env["RESTORE"]) / "results" / "index.sqlite")
    original = sqlite3.connect(data / "results" / "index.sqlite")
    query = "SELECT sample, analysis, vidjil_sha256 FROM results ORDER BY 1, 2"
    assert restored.execute(query).fetchall() == original.execute(query).fetchall()
    other = sqlite3.connect(Path(env["OTHER"]) / "results" / "index.sqlite")
    members = other.execute("SELECT sample FROM set_members WHERE sample_set = 'P1' ORDER BY position").fetchall()
    assert members == [(name,) for name in DEMO_SAMPLES]
    assert "P1-followup-2" in done.stdout  # `vidjil index show P1` on the other installation
    # Groups and team tokens: each token sees its groups, the collaborator pseudonyms, a revoked token nothing.
    for line in [
        "hematology, patient P1: 200",
        "hematology, run set: 404",
        "platform, run set: 200",
        "collaborator, real name: 404",
        "hematology, revoked: 401",
    ]:
        assert line in done.stdout.splitlines(), line
    assert re.search(r"^set-[0-9a-f]{10}$", done.stdout, re.M)
    assert re.search(r"^ +1 hematology-team$", done.stdout, re.M)  # who looked at P1 (its set page)
    tokens = (data / "tokens.json").read_text()
    assert "hematology-team" in tokens and oct((data / "tokens.json").stat().st_mode & 0o777) == "0o600"
    partner = sqlite3.connect(Path(env["OTHER"]) / "partner" / "results" / "index.sqlite")
    assert partner.execute("SELECT sample_set, group_name FROM set_groups").fetchall() == [("P1", "hemato-lyon")]


def server_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the viewer's blocks run as root (nginx, /etc) in their own namespaces"
    missing = [p for p in ("nginx", "openssl", "curl", "unshare") if shutil.which(p) is None]
    if missing:
        return f"{', '.join(missing)} not installed (`make system-deps` as root)"
    return None


# The namespace: /etc, /run and nginx's folders are private copies, the network
# is a loopback of its own (ports 80 and 443 free); everything started in it
# ends with it.
ISOLATE = """
mount --make-rprivate /
cp -a /etc "$SANDBOX/etc" && mount --bind "$SANDBOX/etc" /etc
mount -t tmpfs tmpfs /run
for d in /var/log/nginx /var/lib/nginx; do mkdir -p "$SANDBOX$d"; mount --bind "$SANDBOX$d" "$d"; done
ip link set lo up
"""

CHECKS = """
BLOCK='checks'
https() { curl -sS --cacert /etc/ssl/vidjil/vidjil.crt --resolve "$SERVER_NAME:443:127.0.0.1" -o /dev/null \
    -w "%{http_code}" "$@"; }
token="X-Vidjil-Token: $(cat /etc/vidjil/token)"
echo "viewer user: $(ps -o user= -C vidjil | sort -u | tr '\\n' ' ')"
echo "set page: $(https -H "$token" "https://$SERVER_NAME/set/P1")"
echo "no token: $(https "https://$SERVER_NAME/")"
echo "post: $(https -H "$token" -X POST -d 'x=1' "https://$SERVER_NAME/")"
echo "http: $(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' -H "Host: $SERVER_NAME" http://127.0.0.1/set/P1)"
"""


def reachable(path: Path, sandbox: Path, n: int) -> str:
    """Bash lines making `path` reachable by another account: a parent without
    o+x (/root for pyenv's Python) is covered by a tmpfs holding only the way down."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            child = path.relative_to(parent).parts[0]
            keep = sandbox / f"keep{n}"
            return (
                f'mkdir -p "{keep}" && mount --bind "{parent / child}" "{keep}"\n'
                f'mount -t tmpfs -o mode=711 tmpfs "{parent}"\nmkdir -p "{parent / child}"\n'
                f'mount --bind "{keep}" "{parent / child}"\n'
            )
    return ""


def test_serving_the_viewer_as_the_manual_says(demo: Path) -> None:
    reason = server_unavailable()
    if reason:
        cannot_run(reason)
    sandbox = Path(tempfile.mkdtemp(prefix="vidjil-doc-", dir="/tmp"))
    sandbox.chmod(0o755)
    try:
        # The project's configuration files, and the demo's results as the account's own.
        vidjil, data = sandbox / "opt" / "vidjil", sandbox / "srv" / "vidjil"
        shutil.copytree(ROOT / "config", vidjil / "config")
        shutil.copytree(demo / "results", data / "results")
        env = doc_env(sandbox, vidjil) | {"DATA": str(data), "SANDBOX": str(sandbox)}
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
        python = Path(os.path.realpath(sys.executable))
        code = ISOLATE + reachable(python, sandbox, 1) + reachable(ROOT, sandbox, 2)
        for block in blocks():
            if block.tag != "server":
                continue
            code += script([block]).removeprefix("set -euo pipefail\n")
            if "useradd" in block.code:
                code += 'chown -R vidjil:vidjil "$DATA"\n'  # results made by the account's runs
            if "vidjil view" in block.code:
                code += CHECKS
        done = subprocess.run(
            [
                "unshare",
                "--mount",
                "--net",
                "--pid",
                "--fork",
                "--mount-proc",
                "bash",
                "-c",
                "set -euo pipefail\n" + code,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        lines = done.stdout.splitlines()
        assert "200" in lines  # the manual's own curl, with the token
        assert "viewer user: vidjil " in lines
        assert "set page: 200" in lines and "no token: 401" in lines and "post: 405" in lines
        assert "http: 301 https://localhost/set/P1" in lines
        unit = Path(sandbox / "etc/systemd/system/vidjil-view.service").read_text()
        assert f"ExecStart={vidjil}/.venv/bin/vidjil view {data}/results " in unit
        assert (sandbox / "etc/systemd/system/multi-user.target.wants/vidjil-view.service").is_symlink()
        assert not Path("/etc/vidjil").exists(), "the namespace leaked into the real /etc"
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def test_the_systemd_unit_starts_the_viewer_as_the_manual_does() -> None:
    """The unit's command is the one the manual starts by hand (tested above), and
    systemd finds nothing to complain about in the unit."""
    exec_start = re.search(r"^ExecStart=(.+)$", UNIT.read_text(), re.M)
    assert exec_start
    by_hand = next(line for b in blocks() if b.tag == "server" for line in b.code.splitlines() if "vidjil view" in line)
    expected = by_hand.removeprefix("runuser -u vidjil -- ").removesuffix(" &")
    expected = expected.replace('"$DATA', "/srv/vidjil").replace('results"', "results")
    assert exec_start.group(1) == expected.replace("vidjil view", "/opt/vidjil/.venv/bin/vidjil view", 1)
    assert "User=vidjil" in UNIT.read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed: the unit's syntax is not checked")
    unit = Path(tempfile.mkdtemp()) / UNIT.name
    text = UNIT.read_text().replace("/opt/vidjil/.venv/bin/vidjil", shutil.which("vidjil") or sys.executable)
    unit.write_text(text.replace("User=vidjil", "User=root").replace("Group=vidjil", "Group=root"))
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr


def test_the_manual_names_real_files() -> None:
    text = ADMIN_DOC.read_text()
    for path in re.findall(r"`((?:config|bench|tests|docs|scripts)/[\w./-]+)`", text):
        assert (ROOT / path).exists(), path
