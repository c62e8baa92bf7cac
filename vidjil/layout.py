"""The layout of a results folder, in one place: the workflow writes it, the index
reads it, the viewer serves from it, export and import of sets copy it.

    RESULTS/
      index.sqlite                                  the index (vidjil index)
      .runs/<run>/run.json                          what a run was asked (sheets, read files)
      .index/<run>.done                             the workflow's mark that a run is indexed
      .groups/<set>.group                           the group a set was put in by `import-set --group`
      <analysis>/samples/<sample>/<sample>.vidjil   .airr.tsv  .stats.json
                                                    (.clone-reads.fa.gz: analyses with clone_reads)
      <analysis>/sets/<set>/<set>.fused.vidjil      .fused.airr.tsv  .diversity.tsv  .report.html
                                                    .mrd.tsv  .markers.tsv  .alerts.tsv
                                                    .contamination.tsv (sets of type run)

The workflow's working folder also holds the germline set it built, beside RESULTS
by default: resources/germline/<species>/<species stem>.g with its MANIFEST.json.

Paths are relative to RESULTS (or to the working folder) and `/`-separated; the
workflow passes wildcards (`"{sample}"`) as names."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import UserError

INDEX = "index.sqlite"
RUNS = ".runs"
INDEXED = ".index"
GROUPS = ".groups"
# The Parquet dataset of the results folder (vidjil/cohort.py) and its marks.
COHORT = "cohort"
COHORTED = ".cohort"
# Names an analysis cannot take: folders of the results root.
RESERVED = {COHORT}
SAMPLES = "samples"
SETS = "sets"

# Sample, set and run names become folder and file names.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def is_valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


# File kinds of a sample's result and of a set's fused result, by suffix.
SAMPLE_FILES = {"vidjil": ".vidjil", "airr": ".airr.tsv", "stats": ".stats.json", "parquet": ".clones.parquet"}
# Files a sample's result has only when its analysis asks for them: the reads of its
# top clones (`vidjil detect --clone-reads`). They belong to the sample: exported
# with its set when present, accepted on import; the viewer does not serve them.
SAMPLE_OPTIONAL_FILES = {"clone_reads": ".clone-reads.fa.gz"}
SET_FILES = {
    "vidjil": ".fused.vidjil",
    "airr": ".fused.airr.tsv",
    "diversity": ".diversity.tsv",
    "report": ".report.html",
    "mrd": ".mrd.tsv",
    "markers": ".markers.tsv",
    "alerts": ".alerts.tsv",
    "contamination": ".contamination.tsv",
}
# Files only a set of this type has.
SET_TYPE_FILES = {"contamination": "run"}
# The MRD tables `vidjil fuse` writes beside the fused file.
MRD_TABLES = ("mrd", "markers", "alerts")


def sample_file(analysis: str, sample: str, kind: str) -> str:
    suffix = SAMPLE_FILES.get(kind) or SAMPLE_OPTIONAL_FILES[kind]
    return str(PurePosixPath(analysis, SAMPLES, sample, sample + suffix))


def set_file(analysis: str, sample_set: str, kind: str) -> str:
    return str(PurePosixPath(analysis, SETS, sample_set, sample_set + SET_FILES[kind]))


def _parse(relative: str, folder: str, files: dict[str, str]) -> tuple[str, str] | None:
    parts = PurePosixPath(relative).parts
    if len(parts) != 4 or parts[1] != folder or ".." in parts:
        return None
    analysis, _, name, file_name = parts
    if file_name != name + files["vidjil"] or not is_valid_name(name):
        return None
    return analysis, name


def parse_sample_file(relative: str) -> tuple[str, str] | None:
    """(analysis, sample) of a sample's `.vidjil` path, None if the layout does not put it there."""
    return _parse(relative, SAMPLES, SAMPLE_FILES)


def parse_set_file(relative: str) -> tuple[str, str] | None:
    """(analysis, set) of a set's fused `.vidjil` path, None if the layout does not put it there."""
    return _parse(relative, SETS, SET_FILES)


def is_set_file(relative: str) -> bool:
    """Whether `relative` is a file a sample set holds where the layout puts it: a
    run description, a sample's result or a set's fused result."""
    parts = PurePosixPath(relative).parts
    if len(parts) == 3 and parts[0] == RUNS and parts[2] == "run.json":
        return is_valid_name(parts[1])
    if len(parts) != 4 or parts[1] not in (SAMPLES, SETS) or not all(is_valid_name(p) for p in parts[:3]):
        return False
    files = SAMPLE_FILES | SAMPLE_OPTIONAL_FILES if parts[1] == SAMPLES else SET_FILES
    return parts[3] in {parts[2] + suffix for suffix in files.values()}


def run_description(run: str) -> str:
    return str(PurePosixPath(RUNS, run, "run.json"))


def group_assignment(sample_set: str) -> str:
    """Where `import-set --group` records the group of a set (it wins over the sets sheet's)."""
    return str(PurePosixPath(GROUPS, f"{sample_set}.group"))


def group_assignments(results: Path) -> list[Path]:
    return sorted(results.glob(group_assignment("*")))


def run_indexed_mark(run: str) -> str:
    return str(PurePosixPath(INDEXED, f"{run}.done"))


def run_cohort_mark(run: str) -> str:
    return str(PurePosixPath(COHORTED, f"{run}.done"))


BUILT_GERMLINES = "resources/germline"


def built_germline(species: str, stem: str) -> str:
    """The germline preset the workflow builds for `species` (its working folder)."""
    return str(PurePosixPath(BUILT_GERMLINES, species, f"{stem}.g"))


def built_germline_manifest(species: str) -> str:
    return str(PurePosixPath(BUILT_GERMLINES, species, "MANIFEST.json"))


def index_db(results: Path) -> Path:
    return results / INDEX


def run_descriptions(results: Path) -> list[Path]:
    return sorted(results.glob(run_description("*")))


def read_run_descriptions(results: Path) -> list[Any]:
    """The parsed run descriptions of a results folder, in path order; an unreadable
    one is one error line naming it."""
    runs = []
    for path in run_descriptions(results):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}: unreadable run description ({exc})") from None
    return runs


def sample_stats(results: Path) -> Iterator[tuple[str, str, Path]]:
    """(analysis, sample, stats file) of every sample result, in path order."""
    for path in sorted(results.glob(sample_file("*", "*", "stats"))):
        analysis, _, sample, name = path.relative_to(results).parts
        if name == sample + SAMPLE_FILES["stats"]:
            yield analysis, sample, path


def fused_sets(results: Path) -> Iterator[tuple[str, str, Path]]:
    """(analysis, set, fused .vidjil) of every fused set, in path order."""
    for path in sorted(results.glob(set_file("*", "*", "vidjil"))):
        analysis, _, sample_set, name = path.relative_to(results).parts
        if name == sample_set + SET_FILES["vidjil"]:
            yield analysis, sample_set, path


def sample_files(analysis: str, sample: str, optional: bool = False) -> list[str]:
    """The files of a sample's result; with `optional`, also those it may have."""
    kinds = [*SAMPLE_FILES, *(SAMPLE_OPTIONAL_FILES if optional else ())]
    return [sample_file(analysis, sample, kind) for kind in kinds]


def set_files(analysis: str, sample_set: str, set_type: str | None = None) -> list[str]:
    """The files of a set; with `set_type`, those a set of that type has."""
    kinds = [k for k in SET_FILES if set_type is None or SET_TYPE_FILES.get(k, set_type) == set_type]
    return [set_file(analysis, sample_set, kind) for kind in kinds]
