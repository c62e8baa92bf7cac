"""Groups: which team may see which sample sets and samples.

A set belongs to one group: the sets sheet's `group` column, or the group
`import-set --group` recorded (`RESULTS/.groups/<set>.group`, which wins), else
`default`. A sample is in the groups of its sets that are not of type `run`; a
sample in run sets only is in theirs. A run set (a sequencing run mixes the
patients of several teams) gives no one access to the samples of patients of
other groups.

What a list of groups may see (`Scope`): a sample in one of them; a set in one of
them whose samples it all may see (a run set mixing two groups' patients is seen
by a token of both groups, or of `*`); a run with a sample it may see. `*` sees
everything. The viewer, `vidjil index list/show/search --group` and
`vidjil export-set --group` apply these rules; the index holds the groups
(`set_groups`)."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import layout
from .errors import UserError

DEFAULT_GROUP = "default"
ALL_GROUPS = "*"


def check_name(name: str, what: str) -> str:
    if not layout.is_valid_name(name):
        raise UserError(f"{what} '{name}': letters, digits and . _ + - only (not first)")
    return name


def parse_groups(text: str) -> list[str]:
    """'G1,G2' -> ['G1', 'G2']; '*' is every group."""
    groups = [g.strip() for g in text.split(",") if g.strip()]
    if not groups:
        raise UserError("--groups: give at least one group (or '*' for all)")
    return [g if g == ALL_GROUPS else check_name(g, "group") for g in dict.fromkeys(groups)]


# The groups recorded in a results folder (the index derives its `set_groups` from them).


def assigned_groups(results: Path) -> dict[str, str]:
    """The groups `import-set --group` gave: set -> group."""
    found = {}
    for path in layout.group_assignments(results):
        try:
            group = path.read_text().strip()
        except OSError as exc:
            raise UserError(f"{path}: unreadable ({exc.strerror or exc})") from None
        found[path.name.removesuffix(".group")] = check_name(group, f"{path}: group")
    return found


def set_groups(results: Path, from_runs: dict[str, str | None]) -> dict[str, str]:
    """set -> group of the sets described by the runs (`from_runs`: the group the
    last run's sets sheet gives, if any)."""
    assigned = assigned_groups(results)
    return {name: assigned.get(name) or group or DEFAULT_GROUP for name, group in from_runs.items()}


def recorded_groups(results: Path) -> dict[str, str]:
    """set -> group of every set a results folder describes (as the index would say)."""
    runs = layout.read_run_descriptions(results)
    runs = [r for r in runs if isinstance(r, dict)]
    runs.sort(key=lambda r: (str(r.get("finished") or ""), str(r.get("id", ""))))
    described: dict[str, str | None] = {}
    for run in runs:
        for s in run.get("sets", []) if isinstance(run, dict) else []:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                described[s["name"]] = s.get("group")
    for name in assigned_groups(results):
        described.setdefault(name, None)
    return set_groups(results, described)


# What a token (a list of groups) may see in an index.


def sample_groups(sets: dict[str, tuple[str, str]], members: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """sample -> its groups: those of its sets that are not runs, else those of its run sets.
    `sets`: set -> (type, group)."""
    own: dict[str, set[str]] = defaultdict(set)
    runs: dict[str, set[str]] = defaultdict(set)
    for set_name, sample in members:
        kind, group = sets.get(set_name, ("generic", DEFAULT_GROUP))
        (runs if kind == "run" else own)[sample].add(group)
    return {sample: own.get(sample) or runs[sample] for sample in {*own, *runs}}


@dataclass(frozen=True)
class Scope:
    """The runs, sets and samples one list of groups may see (None: all)."""

    groups: frozenset[str] | None
    runs: frozenset[str]
    sets: frozenset[str]
    samples: frozenset[str]

    @property
    def everything(self) -> bool:
        return self.groups is None

    def sees_sample(self, name: str) -> bool:
        return self.everything or name in self.samples

    def sees_set(self, name: str) -> bool:
        return self.everything or name in self.sets

    def sees_run(self, run: str) -> bool:
        return self.everything or run in self.runs

    def hits(self, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Search hits of samples it may see (and of sets it may see)."""
        return [
            h
            for h in hits
            if self.sees_sample(h["sample"]) and (h.get("sample_set") is None or self.sees_set(h["sample_set"]))
        ]

    def listing(self, tables: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """`index.listing` restricted to what it may see."""
        return {
            "runs": [r for r in tables["runs"] if self.sees_run(r["id"])],
            "sets": [s for s in tables["sets"] if self.sees_set(s["name"])],
            "samples": [s for s in tables["samples"] if self.sees_sample(s["name"])],
        }


def scope(con: sqlite3.Connection, groups: Iterable[str] | None) -> Scope:
    """What `groups` may see in the index open on `con` (`*` among them, or None: all)."""
    wanted = None if groups is None else frozenset(groups)
    if wanted is None or ALL_GROUPS in wanted:
        return Scope(None, frozenset(), frozenset(), frozenset())
    sets = {
        name: (kind, group or DEFAULT_GROUP)
        for name, kind, group in con.execute(
            "SELECT s.name, s.type, g.group_name FROM sample_sets s LEFT JOIN set_groups g ON g.sample_set = s.name"
        )
    }
    members = con.execute("SELECT sample_set, sample FROM set_members").fetchall()
    in_groups = sample_groups(sets, members)
    samples = {name for (name,) in con.execute("SELECT name FROM samples")}
    visible = frozenset(s for s in samples if in_groups.get(s, {DEFAULT_GROUP}) & wanted)
    partial = {set_name for set_name, sample in members if sample not in visible}
    visible_sets = frozenset(name for name, (_, group) in sets.items() if group in wanted and name not in partial)
    runs = frozenset(
        run
        for run, sample in con.execute("SELECT run, sample FROM results UNION SELECT run, sample FROM read_files")
        if sample in visible
    )
    return Scope(wanted, runs, visible_sets, visible)


def sets_of_group(con: sqlite3.Connection, group: str) -> list[str]:
    """The sets of one group, by name."""
    rows = con.execute(
        "SELECT s.name FROM sample_sets s LEFT JOIN set_groups g ON g.sample_set = s.name"
        " WHERE coalesce(g.group_name, ?) = ? ORDER BY s.name",
        (DEFAULT_GROUP, group),
    )
    return [name for (name,) in rows]


def groups_by_set(db: Path) -> dict[str, str]:
    """set -> group, from the index."""
    from .index import open_reader

    con = open_reader(db)
    try:
        return dict(con.execute("SELECT sample_set, group_name FROM set_groups").fetchall())
    finally:
        con.close()
