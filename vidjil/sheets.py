"""The sample and set sheets (TSV), read with pandas as Snakemake workflows read
theirs: every cell a string (`dtype=str`, empty cells ''), `#` lines comments,
cells and column names stripped, rows numbered as a spreadsheet shows them (the
header is row 1). The workflow validates the rows against its schemas
(`rules/common.smk`); the commands read the columns they need."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from .errors import UserError
from .files import read_text


def read_sheet(path: Path) -> pd.DataFrame:
    """The rows of a TSV sheet, indexed by row number (2 = the first row after the header)."""
    text = read_text(path)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise UserError(f"{path}: an empty sheet (no header line)")
    try:
        # header=None: a row with more cells than the header is an error (with a
        # header, pandas would silently take the first column as the index).
        cells = pd.read_csv(
            io.StringIO("\n".join(lines)), sep="\t", header=None, dtype=str, keep_default_na=False, quoting=3
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+), saw (\d+)", str(exc))
        where = f", row {found.group(1)}: {found.group(2)} cells, more than the columns" if found else f": {exc}"
        raise UserError(f"{path}{where}") from None
    table = cells.iloc[1:].fillna("")  # short rows: empty cells
    table.columns = [str(c).strip() for c in cells.iloc[0].fillna("")]
    repeated = sorted({c for c in table.columns if c and list(table.columns).count(c) > 1})
    if repeated:
        raise UserError(f"{path}, row 1: column {', '.join(repr(c) for c in repeated)} given twice")
    table = table.apply(lambda column: column.str.strip())
    table.index = pd.RangeIndex(2, 2 + len(table))
    # Columns without a name (trailing tabs of the header) hold nothing: a cell there is an error.
    unnamed = [k for k, c in enumerate(table.columns) if not c]
    for k in unnamed:
        filled = table.iloc[:, k] != ""
        if filled.any():
            raise UserError(f"{path}, row {int(filled.idxmax())}: a cell under a column without a name")
    table = table.iloc[:, [k for k in range(len(table.columns)) if k not in unnamed]]
    return table


def rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(row number, {column: cell}) of each row, empty cells left out."""
    return [
        (int(n), {str(k): str(v) for k, v in record.items() if v != ""})
        for n, record in read_sheet(path).to_dict("index").items()
    ]
