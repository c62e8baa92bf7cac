"""Write outputs atomically: every file goes to a temporary name in its final
directory and is renamed only once all of them are complete. A run that fails or
is interrupted leaves nothing: its temporary files and the folders it created are
removed; the temporary files of a run killed outright (`.NAME.XXXX.tmp`) are
removed by the next run that writes NAME there."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutputs:
    """Collects several outputs; `commit()` renames them all into place."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._created: list[Path] = []  # folders made for the outputs, deepest last

    def _temporary(self, path: Path) -> tuple[int, str]:
        """A new temporary file beside `path`, once the folder exists and the
        leftovers of killed runs that wrote `path` are gone."""
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._created += [p for p in reversed(missing) if p not in self._created]
        for stale in glob.glob(os.path.join(glob.escape(str(path.parent)), f".{glob.escape(path.name)}.*.tmp")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)

    def write(self, path: Path, writer: Callable[[IO[str]], None]) -> None:
        fd, tmp = self._temporary(path)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                writer(handle)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._pending.append((Path(tmp), path))

    def write_path(self, path: Path, writer: Callable[[str], T]) -> T:
        """Like `write`, for a writer that takes the temporary file's path."""
        fd, tmp = self._temporary(path)
        os.close(fd)
        try:
            os.chmod(tmp, 0o666 & ~_umask())
            value = writer(tmp)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._pending.append((Path(tmp), path))
        return value

    def commit(self) -> None:
        for tmp, final in self._pending:
            os.replace(tmp, final)
        self._pending.clear()

    def discard(self) -> None:
        for tmp, _ in self._pending:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._pending.clear()
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):  # not empty: someone else wrote there
                folder.rmdir()
        self._created.clear()


@contextlib.contextmanager
def atomic_outputs() -> Iterator[AtomicOutputs]:
    outputs = AtomicOutputs()
    try:
        yield outputs
    except BaseException:
        outputs.discard()
        raise
    outputs.commit()
