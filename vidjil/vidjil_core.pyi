"""Type stubs of the Rust engine (vidjil_core, built by maturin)."""

from typing import Any

__version__: str
REASONS: list[str]
PER_READ_HEADER: str

class InputError(ValueError):
    """Bad input: the message names the file and the problem."""

class Germline:
    """A germline preset `FILE.g[:SYS1,SYS2]` with its k-mer index."""

    load_seconds: float
    def __init__(self, spec: str) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def species(self) -> str: ...
    @property
    def species_taxon_id(self) -> int: ...
    @property
    def table_bytes(self) -> int: ...
    @property
    def system_names(self) -> list[str]: ...
    def systems(self) -> list[dict[str, Any]]: ...
    def files(self) -> list[dict[str, Any]]: ...
    def anchors(self) -> list[tuple[str, str, int | None, str]]: ...
    def missing_anchors(self) -> list[str]: ...
    def detect_read(
        self, sequence: str, window: int = 50, e_value: float = 1.0, unexpected: bool = False
    ) -> dict[str, Any]: ...
    def designate_read(
        self,
        sequence: str,
        window: int = 50,
        e_value: float = 1.0,
        unexpected: bool = False,
        e_value_d: float = 0.05,
        several_d: bool = False,
        alternatives: int = 0,
    ) -> dict[str, Any]: ...

def detect(
    germline: Germline,
    paths: list[str],
    *,
    pairs: list[tuple[str, str]] = [],
    window: int = 50,
    e_value: float = 1.0,
    unexpected: bool = False,
    threads: int = 0,
    min_reads: int = 5,
    max_clones: int = 0,
    designate: int = 100,
    e_value_d: float = 0.05,
    several_d: bool = False,
    alternatives: int = 0,
    merge_distance: int = 1,
    merge_ratio: float = 20.0,
    max_windows: int = 1048576,
    min_overlap: int = 12,
    max_mismatch_rate: float = 0.1,
    quiet: bool = True,
) -> dict[str, Any]: ...
def parse_only(paths: list[str]) -> tuple[int, int]: ...
def per_read(
    germline: Germline,
    paths: list[str],
    output: str,
    *,
    pairs: list[tuple[str, str]] = [],
    window: int = 50,
    e_value: float = 1.0,
    unexpected: bool = False,
    threads: int = 0,
    e_value_d: float = 0.05,
    several_d: bool = False,
    alternatives: int = 0,
    min_overlap: int = 12,
    max_mismatch_rate: float = 0.1,
    quiet: bool = True,
) -> tuple[int, int, int]: ...
