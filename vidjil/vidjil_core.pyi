"""Type stubs of the Rust engine (vidjil_core, built by maturin).

The result types are the dicts the engine returns (positions 0-based, ends
exclusive); they exist for the type checker only (`type_check_only`). Keywords
left to None take the engine's defaults, `default_params()`."""

from typing import Any, Literal, NotRequired, Self, TypedDict, final, type_check_only

__all__ = [
    "__version__",
    "InputError",
    "ParamError",
    "Germline",
    "default_params",
    "detect",
    "grep_reads",
    "parse_only",
    "per_read",
    "write_table",
]

__version__: str

class InputError(ValueError):
    """Bad input: the message names the file and the problem."""

class ParamError(ValueError):
    """A parameter out of its bounds: `field` is the keyword (`window`,
    `min_overlap`, ...), `bound` what its value must be (`between 30 and 63`)."""

    field: str
    bound: str

@final
@type_check_only
class RunDefaults(TypedDict):
    """The keywords of `detect()` and their defaults."""

    window: int
    e_value: float
    unexpected: bool
    rescue: bool  # reads with one side found sampled again at every position
    threads: int  # 0: one per available core
    min_reads: int
    max_clones: int  # 0: all
    designate: int
    e_value_d: float
    several_d: bool
    alternatives: int
    merge_distance: int
    merge_ratio: float
    max_windows: int
    min_overlap: int
    max_mismatch_rate: float
    umi: str | None  # None: no UMI (reads counted)
    umi_spacer: str
    min_reads_per_umi: int
    max_umis: int  # (window, UMI) entries kept exactly (16 bytes each)

# Germline description

# Relative paths of the 5' (V), 4' (D) and 3' (J) files of one recombination (the
# preset's keys, not identifiers: functional syntax, private so that stubtest does
# not look for it at run time).
_Recombination = TypedDict("_Recombination", {"5": list[str], "4": list[str], "3": list[str]})

@final
@type_check_only
class SystemInfo(TypedDict):
    name: str
    shortcut: str
    color: str
    description: str
    seed: str
    incomplete: bool
    follows: str | None
    recombinations: list[_Recombination]

@final
@type_check_only
class GeneFileInfo(TypedDict):
    rel_path: str
    path: str
    alleles: int

# Designation

@final
@type_check_only
class Segment(TypedDict):
    role: Literal["5", "4", "3"]
    name: str
    start: int
    end: int
    germline_start: int
    germline_end: int
    germline_length: int
    del_left: int
    del_right: int
    score: int
    identity: float
    evalue: float
    cigar: str
    sequence_alignment: str
    germline_alignment: str
    tied: list[str]
    alternatives: list[tuple[str, int]]

@final
@type_check_only
class Junction(TypedDict):
    start: int
    end: int
    nt: str
    aa: str
    in_frame: bool
    stop_codon: bool
    productive: bool
    unproductive: str | None
    cdr3: tuple[int, int] | None

@final
@type_check_only
class Designation(TypedDict):
    name: str
    evalue: float
    evalue_v: float
    evalue_j: float
    segments: list[Segment]
    inserts: list[tuple[int, int]]
    tied_genes: list[str]
    sequence_alignment: str
    germline_alignment: str
    junction: Junction | None

@final
@type_check_only
class FailedDesignation(TypedDict):
    failed: str

# One read

@final
@type_check_only
class Undetected(TypedDict):
    detected: Literal[False]
    reason: str

@type_check_only
class Detected(TypedDict):
    detected: Literal[True]
    system: str
    pair: NotRequired[tuple[str, str]]  # unexpected recombinations: systems of the 5' and 3' genes
    reverse: bool
    breakpoint: int
    window: str
    window_start: int
    shifted: bool
    oriented: str  # the read on the V->J strand
    evalue: float
    evalue_v: float
    evalue_j: float

@final
@type_check_only
class Designated(Detected):
    designation: Designation | FailedDesignation

# A run

@final
@type_check_only
class Tally(TypedDict):
    reads: int
    length: int

@final
@type_check_only
class ReasonTally(TypedDict):
    reads: int
    length: int
    label: str

@final
@type_check_only
class PairTally(TypedDict):
    merged: int
    not_merged: int
    unpaired: int
    overlap_bases: int

@final
@type_check_only
class Diversity(TypedDict):
    shannon: float
    evenness: float
    simpson: float
    clones: int
    reads: int
    singletons: int
    doubletons: int
    chao1: float

@final
@type_check_only
class Representative(TypedDict):
    sequence: str
    window_start: int
    samples: int
    coverage: float
    evalue: float | None
    evalue_v: float | None
    evalue_j: float | None

@final
@type_check_only
class Clone(TypedDict):
    window: str
    system: str
    pair: NotRequired[tuple[str, str]]  # unexpected recombinations: systems of the 5' and 3' genes
    loci: NotRequired[tuple[str, str]]  # ... and their loci
    reads: int
    shifted_reads: int
    merged_reads: int
    merged_count: int
    merged_windows: list[str]
    average_length: float
    near_duplicate_of: str | None
    umi: NotRequired[CloneUmi]  # with UMIs
    representative: Representative | None
    designation: NotRequired[Designation | FailedDesignation]  # the top clones (`designate`)

@final
@type_check_only
class CloneUmi(TypedDict):
    molecules: int  # molecules of >= min_reads_per_umi reads (+ those of evicted tables)
    umis: int  # distinct UMIs seen
    umis_merged: int  # merged into a more abundant UMI (directional rule, or two substitutions away)
    umis_merged_far: int  # single-read UMIs two substitutions from an abundant UMI
    reads_in_molecules: int
    molecules_dropped: int  # fewer than min_reads_per_umi reads
    molecules_hidden: int  # expected hidden by UMI collisions, counted in molecules
    molecules_evicted: int  # counted from UMI tables evicted for memory
    top_umis: list[tuple[str, int]]  # (UMI, reads) of the largest molecules, at most 5

@final
@type_check_only
class UmiRun(TypedDict):
    source: str  # name, illumina, r1:N, r2:N
    min_reads_per_umi: int
    max_umis: int
    reads_without_umi: Tally  # not detected
    molecules: int  # over every clone (all windows after merging)
    molecules_by_system: dict[str, int]
    reads_in_molecules: int
    umis: int
    umis_merged: int
    umis_merged_far: int
    molecules_hidden: int  # expected hidden by UMI collisions (same or neighbouring UMIs)
    crowded_clones: int  # more than 30% of their molecules hidden: UMIs short for them
    molecules_dropped: int
    reads_in_dropped_molecules: int
    model: UmiModel  # estimated from the run
    reads_per_molecule: list[tuple[int, int]]  # (smallest reads of the bin, molecules)
    molecules_reassigned: int  # of a clone kept apart, to its larger neighbour holding them
    collisions: int  # UMIs of molecules in two or more reported clones
    clones_with_collisions: int
    evicted_tables: int
    evicted_reads: int
    peak_entries: int  # most (window, UMI) entries held at once, 16 bytes each

@final
@type_check_only
class UmiModel(TypedDict):
    error_rate: float  # chance that a read's UMI carries an error at a given base
    single_read_share: float  # share of the molecules seen in one read
    neighbour_loss: float  # chance that two molecules one UMI substitution apart are grouped as one

@final
@type_check_only
class CloneReads(TypedDict):
    clones: int  # the top N clones whose reads were written
    reads: int  # reads written
    per_clone: list[int]  # reads written per clone, in rank order
    exact: bool  # every compaction of windows (max_windows) recorded: the counts are the clones' reads
    seconds: float
    molecules: bool  # with UMIs: one consensus read per molecule (reads, per_clone: molecules)

@final
@type_check_only
class RunResult(TypedDict):
    total: Tally
    detected: Tally
    systems: dict[str, Tally]  # per system, then "unexpected"
    reasons: dict[str, ReasonTally]  # undetected reads per reason
    shifted_reads: int
    distinct_windows: int
    merged_windows: int
    dropped_windows: int
    dropped_reads: int
    clones_above_min: int
    reads_in_clones_above_min: int
    distribution: list[tuple[int, int, int]]  # (smallest size of the decade, clones, reads)
    reads_per_file: list[int]
    pairs: PairTally
    seconds_detection: float
    seconds_clones: float
    seconds_designation: float
    sample_threshold: float
    diversity: Diversity
    diversity_by_system: dict[str, Diversity]
    clones: list[Clone]
    threads: int
    clone_reads: CloneReads | None  # the second pass of clone_reads (None without it)
    umi: UmiRun | None  # with UMIs (None without)

@final
class Germline:
    """A germline preset `FILE.g[:SYS1,SYS2]` with its k-mer index."""

    load_seconds: float
    def __new__(cls, spec: str) -> Self: ...
    @property
    def path(self) -> str: ...
    @property
    def species(self) -> str: ...
    @property
    def species_taxon_id(self) -> int: ...
    @property
    def system_names(self) -> list[str]: ...
    def systems(self) -> list[SystemInfo]: ...
    def files(self) -> list[GeneFileInfo]: ...
    def anchors(self) -> list[tuple[str, str, int | None, str]]: ...
    def missing_anchors(self) -> list[str]: ...
    def detect_read(
        self,
        sequence: str,
        window: int | None = None,
        e_value: float | None = None,
        unexpected: bool | None = None,
        rescue: bool | None = None,
    ) -> Detected | Undetected: ...
    def designate_read(
        self,
        sequence: str,
        window: int | None = None,
        e_value: float | None = None,
        unexpected: bool | None = None,
        e_value_d: float | None = None,
        several_d: bool | None = None,
        alternatives: int | None = None,
        rescue: bool | None = None,
    ) -> Designated | Undetected: ...

def default_params() -> RunDefaults: ...
def detect(
    germline: Germline,
    paths: list[str],
    *,
    pairs: list[tuple[str, str]] = ...,
    window: int | None = None,
    e_value: float | None = None,
    unexpected: bool | None = None,
    threads: int | None = None,
    min_reads: int | None = None,
    max_clones: int | None = None,
    designate: int | None = None,
    e_value_d: float | None = None,
    several_d: bool | None = None,
    alternatives: int | None = None,
    merge_distance: int | None = None,
    merge_ratio: float | None = None,
    max_windows: int | None = None,
    min_overlap: int | None = None,
    max_mismatch_rate: float | None = None,
    rescue: bool | None = None,
    quiet: bool = True,
    clone_reads: int | None = None,
    clone_reads_path: str | None = None,
    umi: str | None = None,
    umi_spacer: str | None = None,
    min_reads_per_umi: int | None = None,
    max_umis: int | None = None,
) -> RunResult: ...
def grep_reads(
    germline: Germline,
    query: str,
    paths: list[str],
    output: str,
    *,
    pairs: list[tuple[str, str]] = ...,
    rank: int = 0,
    contains: bool = False,
    gzip: bool = False,
    window: int | None = None,
    e_value: float | None = None,
    unexpected: bool | None = None,
    threads: int | None = None,
    min_overlap: int | None = None,
    max_mismatch_rate: float | None = None,
    quiet: bool = True,
    umi: str | None = None,
    umi_spacer: str | None = None,
) -> tuple[int, int]: ...
def parse_only(paths: list[str]) -> tuple[int, int]: ...
def write_table(path: str, columns: list[tuple[str, str, Any]], metadata: list[tuple[str, str]]) -> None: ...
def per_read(
    germline: Germline,
    paths: list[str],
    output: str,
    *,
    pairs: list[tuple[str, str]] = ...,
    window: int | None = None,
    e_value: float | None = None,
    unexpected: bool | None = None,
    threads: int | None = None,
    e_value_d: float | None = None,
    several_d: bool | None = None,
    alternatives: int | None = None,
    min_overlap: int | None = None,
    max_mismatch_rate: float | None = None,
    rescue: bool | None = None,
    quiet: bool = True,
    umi: str | None = None,
    umi_spacer: str | None = None,
) -> tuple[int, int, int]: ...
