"""Reading the text of an input file, plain or gzip, with one-line errors."""

from __future__ import annotations

import gzip
from pathlib import Path

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
