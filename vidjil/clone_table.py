"""`NAME.clones.parquet`: the clones of a sample as a typed table, beside its AIRR
TSV. The same rows and columns as the TSV (`umi_count` and `consensus_count` with
UMIs), with the types of the AIRR Rearrangement schema (integers, numbers, booleans;
missing values are nulls), then `rank`, `sample` and `run`. Written by the engine's
Parquet writer (no Arrow at detection time); read with pandas, pyarrow, DuckDB or
Spark."""

from __future__ import annotations

from pathlib import Path

from .airr_format import FIELDS

# Types of the AIRR Rearrangement schema (v1.5) for the fields the TSV writes; every
# other field is a string (tests/test_cohort.py checks this against the airr package).
BOOLEAN = {"rev_comp", "productive", "vj_in_frame", "stop_codon"}
INTEGER = {
    "junction_length", "cdr3_start", "cdr3_end", "np1_length", "np2_length", "duplicate_count",
    *(f"{seg}_{side}_{end}" for seg in ("v", "d", "d2", "j") for side in ("sequence", "germline")
      for end in ("start", "end")),
    "vidjil_window_start", "umi_count", "consensus_count",
}  # fmt: skip
# Columns of the TSV of a run with UMIs (`detect --umi`), after the AIRR fields.
UMI_FIELDS = ["umi_count", "consensus_count"]
NUMBER = {*(f"{seg}_{what}" for seg in ("v", "d", "d2", "j") for what in ("score", "support", "identity")),
          "vidjil_evalue"}  # fmt: skip
# After the AIRR fields: the clone's rank in its sample, the sample, the run.
EXTRA = [("rank", "integer"), ("sample", "string"), ("run", "string")]
TRUE, FALSE = {"T", "TRUE", "True", "true"}, {"F", "FALSE", "False", "false"}


def field_type(field: str) -> str:
    """The AIRR type of a column: string, integer, number or boolean."""
    if field in BOOLEAN:
        return "boolean"
    if field in INTEGER:
        return "integer"
    return "number" if field in NUMBER else "string"


def typed(text: str | None, kind: str) -> str | int | float | bool | None:
    """A TSV cell as a value of its type; an empty cell is missing (None)."""
    if text is None or text == "":
        return None
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        if text not in TRUE | FALSE:
            raise ValueError(f"not a boolean: {text!r}")
        return text in TRUE
    return text


def table_columns(rows: list[dict[str, str]], sample: str, run: str | None) -> list[tuple[str, str, list[object]]]:
    """(name, type, values) of every column of the clone table of `rows` (AIRR rows,
    in rank order)."""
    columns: list[tuple[str, str, list[object]]] = []
    umi = [f for f in UMI_FIELDS if rows and f in rows[0]]
    for field in [*FIELDS, *umi]:
        kind = field_type(field)
        columns.append((field, kind, [typed(row.get(field), kind) for row in rows]))
    extra: dict[str, list[object]] = {
        "rank": list(range(1, len(rows) + 1)),
        "sample": [sample] * len(rows),
        "run": [run] * len(rows),
    }
    columns += [(name, kind, extra[name]) for name, kind in EXTRA]
    return columns


def write_clone_table(path: Path | str, rows: list[dict[str, str]], sample: str, run: str | None,
                      metadata: dict[str, str]) -> None:  # fmt: skip
    from .vidjil_core import write_table

    write_table(str(path), table_columns(rows, sample, run), sorted(metadata.items()))
