"""The shell blocks of docs/admin.md, for the tests that run them.

A block is a ```sh fence; an HTML comment `<!-- doc-test: TAG -->` on the line
before it tags it: `slurm` (run by tests/test_slurm.py on its cluster) or `server`
(run as root in an isolated mount and network namespace, tests/test_admin_doc.py).
Untagged blocks run in order in one shell; the first block holds the settings
(variables the tests set)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helpers import ROOT

ADMIN_DOC = ROOT / "docs" / "admin.md"
FENCE = re.compile(r"(?:<!-- doc-test: (\w+) -->\n)?```sh\n(.*?)```", re.S)


@dataclass
class Block:
    number: int
    section: str
    tag: str
    code: str


def blocks(path: Path = ADMIN_DOC) -> list[Block]:
    text = path.read_text()
    found = []
    for n, match in enumerate(FENCE.finditer(text), start=1):
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.M)
        found.append(Block(n, headings[-1] if headings else "", match.group(1) or "", match.group(2)))
    return found


def settings(path: Path = ADMIN_DOC) -> list[str]:
    """Names the settings block exports (the first block, before any section)."""
    first = blocks(path)[0]
    assert first.section == "", "the first shell block must be the settings, before any section"
    return re.findall(r"^export (\w+)=", first.code, re.M)


def script(selected: list[Block]) -> str:
    """One bash script running `selected` in order, stopping at the first failure
    and saying which block failed."""
    parts = ["set -euo pipefail", "trap 'echo \"doc block $BLOCK failed\" >&2' ERR"]
    for block in selected:
        parts += [f"BLOCK='{block.number} ({block.section})'", block.code]
    return "\n".join(parts) + "\n"


def run(selected: list[Block], env: dict[str, str], cwd: Path, timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script(selected)], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
