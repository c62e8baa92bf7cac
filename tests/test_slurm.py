"""The workflow on a real SLURM cluster: a single-node SLURM 22.05 on 127.0.0.1
(scripts/slurm-test-cluster.sh, Debian's packages) runs the demo through
profiles/slurm; its jobs must have gone through sbatch (sacct lists them
COMPLETED). Skipped with the reason when the cluster cannot start here (not root,
packages missing); in CI it must run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import doc_blocks
import pytest
from helpers import DEMO_SAMPLES, ROOT, SNAKEMAKE, cannot_run

SCRIPT = ROOT / "scripts" / "slurm-test-cluster.sh"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "slurmdbd", "munge", "mariadb-server"]


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the test cluster needs root (it starts munge, MariaDB and the SLURM daemons)"
    missing = subprocess.run(["dpkg", "-s", *PACKAGES], capture_output=True).returncode != 0
    if missing or shutil.which("slurmctld") is None:
        return f"SLURM packages missing: run {SCRIPT.relative_to(ROOT)} install (as root)"
    if Path("/etc/slurm/slurm.conf").exists() and not Path("/etc/slurm/slurm.conf").is_symlink():
        return "/etc/slurm/slurm.conf exists: this machine has a real SLURM configuration"
    return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    reason = unavailable()
    if reason:
        cannot_run(reason)
    # The daemons run as munge, mysql and slurm: their folder must be reachable by
    # them, which pytest's private temporary folders are not.
    state = Path(tempfile.mkdtemp(prefix="vidjil-slurm-", dir="/tmp"))
    state.chmod(0o755)
    started = subprocess.run(["bash", str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=300)
    try:
        assert started.returncode == 0, started.stderr
        yield {**os.environ, "SLURM_CONF": started.stdout.strip().splitlines()[-1]}
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(state)], capture_output=True, timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def test_demo_runs_through_sbatch_as_the_manual_says(cluster: dict[str, str], tmp_path: Path) -> None:
    """docs/admin.md's SLURM block (the node has the machine's cores: it asks 2
    threads for detect, not the profile's 4), on the demo's configuration."""
    (tmp_path / "config").mkdir()
    for name in ("config.yaml", "samples.tsv", "sets.tsv"):
        shutil.copy(ROOT / "config" / name, tmp_path / "config" / name)
    env = cluster | {"VIDJIL": str(ROOT), "DATA": str(tmp_path)}
    env["PATH"] = f"{Path(SNAKEMAKE[0]).parent}:{env['PATH']}"
    slurm_blocks = [b for b in doc_blocks.blocks() if b.tag == "slurm"]
    run = doc_blocks.run(slurm_blocks, env, tmp_path, timeout=960)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "submitted with SLURM jobid" in run.stderr
    # The manual's sacct: the run's jobs, completed, in this working folder.
    assert len(re.findall(rf"^\d+ +COMPLETED .* 0:0 +{re.escape(str(tmp_path))} *$", run.stdout, re.M)) == 15, (
        run.stdout
    )
    fused = json.loads((tmp_path / "results/multi+inc/sets/P1/P1.fused.vidjil").read_text())
    assert fused["samples"]["original_names"] == DEMO_SAMPLES
    assert fused["clones"][0]["reads"][0] > 3000
    assert (tmp_path / "results/index.sqlite").exists()
    sacct = subprocess.run(
        ["sacct", "-X", "-n", "-P", "--format=JobID,State,WorkDir"], capture_output=True, text=True, env=cluster
    )
    jobs = [line.split("|") for line in sacct.stdout.splitlines() if line.endswith(f"|{tmp_path}")]
    # demo_reads, germline, 5 detect, 3 fuse, 3 report, 2 contamination; `index` runs locally.
    assert len(jobs) == 15, sacct.stdout
    assert all(state == "COMPLETED" for _, state, _ in jobs), jobs
