"""Clones shared across patients: the same junction in samples of other patients,
in the index (earlier runs). Marker candidates get it as a flag (a public clone,
or a contamination), run sets a contamination table (`vidjil.contamination`).

A sample's patients are the sets of type `patient` it is a member of; a sample of
no patient set is its own patient. Two samples are of other patients when they
share no patient."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from .errors import UserError


class IndexHit(TypedDict):
    """A clone of an indexed sample with a given junction: its size (`reads`) and
    fraction of its locus in `unit`, 'reads' or 'molecules' (asked for, and the
    sample has them)."""

    junction: str
    sample: str
    patients: list[str]
    run: str
    run_date: str
    reads: int
    fraction: float
    unit: str


@dataclass
class IndexLookup:
    """Junction lookups in an index; `problem` says why there is none (no index,
    an index of another schema): lookups then find nothing."""

    db: Path | None
    problem: str = ""
    _con: sqlite3.Connection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from .index import open_reader

        if self.db is None:
            self.problem = "no index given"
            return
        if not self.db.exists():
            self.problem = f"{self.db}: no index yet"
            return
        try:
            self._con = open_reader(self.db)
        except UserError as exc:
            self.problem = str(exc)

    def hits(self, junctions: Iterable[str], unit: str = "reads") -> dict[str, list[IndexHit]]:
        """Indexed samples with a clone of each junction (upper-case nucleotides),
        their largest clone of it when several analyses found it. With `unit`
        'molecules', a sample with molecules (`detect --umi`) gives its clone's
        molecules and their fraction of its locus's; one without, its reads (the
        hit's `unit` says which)."""
        wanted = sorted({j for j in junctions if j})
        if self._con is None or not wanted:
            return {}
        patients: dict[str, list[str]] = {}
        for sample, patient in self._con.execute(
            "SELECT m.sample, m.sample_set FROM set_members m JOIN sample_sets s ON s.name = m.sample_set"
            " WHERE s.type = 'patient' ORDER BY m.sample_set"
        ):
            patients.setdefault(sample, []).append(patient)
        found: dict[tuple[str, str], IndexHit] = {}
        molecules = "c.molecules" if unit == "molecules" else "NULL"
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._con.execute(
                "SELECT c.junction, r.sample, r.run, coalesce(runs.finished, runs.started, ''), c.reads,"
                f" coalesce(c.locus_fraction, c.fraction), {molecules}, c.locus_molecule_fraction"
                " FROM clones c JOIN results r ON r.id = c.result"
                f" JOIN runs ON runs.id = r.run WHERE c.junction IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for junction, sample, run, when, reads, fraction, clone_molecules, molecule_fraction in rows:
                in_molecules = clone_molecules is not None
                hit = IndexHit(
                    junction=junction,
                    sample=sample,
                    patients=patients.get(sample, [sample]),
                    run=run,
                    run_date=str(when)[:10],
                    reads=int(clone_molecules if in_molecules else reads),
                    fraction=float((molecule_fraction or 0.0) if in_molecules else fraction),
                    unit="molecules" if in_molecules else "reads",
                )
                key = (junction, sample)
                # The largest clone of the sample, molecules before reads (one unit per sample).
                rank = (hit["unit"] == unit, hit["reads"])
                if key not in found or rank > (found[key]["unit"] == unit, found[key]["reads"]):
                    found[key] = hit
        by_junction: dict[str, list[IndexHit]] = {}
        for (junction, _), hit in sorted(found.items()):
            by_junction.setdefault(junction, []).append(hit)
        return by_junction

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


def other_patient(patients: list[str], hit_patients: list[str]) -> bool:
    """Whether a hit's sample is of another patient than a sample of `patients`."""
    return not set(patients) & set(hit_patients)
