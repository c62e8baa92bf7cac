"""Reading the text of an input file, plain or gzip, with one-line errors; writing TSV tables."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .errors import UserError

GZIP_MAGIC = b"\x1f\x8b"


def read_text(path: Path) -> str:
    """The whole text of `path` (gzip is recognised by its magic bytes)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw).decode() if raw[:2] == GZIP_MAGIC else raw.decode()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: unreadable ({exc})") from None


def tsv_cell(value: Any) -> str:
    """A TSV cell: numbers with 6 significant digits, None empty, no tab or newline."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return f"{value:.6g}"
    return " ".join(str(value).split())


def write_tsv(handle: IO[str], fields: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """A table (pandas) of `fields` columns, one line per row, missing cells empty,
    cells written by `tsv_cell`."""
    import pandas as pd

    table = pd.DataFrame.from_records(list(rows), columns=fields)
    table = table.astype(object).where(table.notna(), None).map(tsv_cell)
    table.to_csv(handle, sep="\t", index=False, lineterminator="\n", quoting=3)
