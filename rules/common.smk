# Configuration, sample sheet and sets: loaded, validated (before any job runs) and
# turned into the helpers the rules use.

import hashlib
import json
import os
import re
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

PROJECT = Path(workflow.basedir).parent
SCHEMAS = PROJECT / "config" / "schemas"
# The results layout is the package's (vidjil/layout.py, pure Python): importable
# from the project even where Snakemake runs outside the package's environment.
sys.path.insert(0, str(PROJECT))
from vidjil import layout, sheets
from vidjil.errors import UserError

# Jobs run `vidjil` from the environment that runs Snakemake (a conda environment
# of --sdm conda comes first on PATH).
envvars:
    "PATH",


os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# For envs/vidjil.post-deploy.sh (installs the project into a conda environment).
os.environ.setdefault("VIDJIL_PROJECT", str(PROJECT))

# Analyses, like the Vidjil server's configurations: which systems of the germline
# set, and engine options. `presets:` in the config adds or overrides entries.
LOCI = ["IGH", "IGK", "IGL", "TRA", "TRB", "TRG", "TRD"]
BUILTIN_ANALYSES = {
    "multi": {"systems": "complete", "options": ""},
    "multi+inc": {"systems": "all", "options": ""},
    "multi+inc+xxx": {"systems": "all", "options": "--unexpected"},
    **{locus: {"systems": locus, "options": ""} for locus in LOCI},
}
DEFAULTS = {
    "results": "results",
    "demo": False,
    "germline": {"species": "human"},
    "presets": {},
    # Engine options left out are the engine's defaults (`vidjil detect --help`).
    "detect": {"options": ""},
    "fuse": {},
    "mrd": {},
    "resources": {
        "detect": {"threads": 2, "mem_mb": 2000, "runtime": 60},
        "fuse": {"mem_mb": 2000, "runtime": 30},
        "contamination": {"mem_mb": 2000, "runtime": 30},
        "report": {"mem_mb": 1000, "runtime": 10},
    },
}
SPECIES_STEM = {"human": "homo-sapiens", "mouse": "mus-musculus"}


def _merged(defaults, given):
    out = dict(defaults)
    for key, value in given.items():
        out[key] = _merged(defaults[key], value) if isinstance(defaults.get(key), dict) else value
    return out


def _schema_error(exc):
    """(field, message) from a validation error of snakemake.utils.validate."""
    text = str(exc)
    message = next((l.split(": ", 1)[1] for l in text.splitlines() if l.startswith("ValidationError")), text)
    field = re.search(r"On instance((?:\[[^\]]+\])+)", text)
    path = re.findall(r"\['?([^'\]]+)'?\]", field.group(1)) if field else []
    return (".".join(path), message)


# With no configuration given, the embedded default: the demo (config/config.yaml).
EMBEDDED_DEFAULT = not config
if EMBEDDED_DEFAULT:
    config.update(yaml.safe_load((PROJECT / "config" / "config.yaml").read_text()))
SHEETS_BASE = PROJECT if EMBEDDED_DEFAULT else Path.cwd()
try:
    validate(config, SCHEMAS / "config.schema.yaml", set_default=False)
except WorkflowError as exc:
    field, message = _schema_error(exc)
    raise WorkflowError(f"configuration, field '{field or '?'}': {message}") from None
config.update(_merged(DEFAULTS, config))
RESULTS = config["results"]
ANALYSES = {**BUILTIN_ANALYSES, **config["presets"]}
for name in config["analyses"]:
    if name not in ANALYSES:
        raise WorkflowError(
            f"configuration, field 'analyses': unknown analysis '{name}' (known: {', '.join(ANALYSES)})"
        )
    if name in layout.RESERVED:
        raise WorkflowError(f"configuration, field 'analyses': '{name}' is the name of a results folder of its own")

# Samples of the embedded demo and their dates (vidjil/demo.py FOLLOWUP).
DEMO_SAMPLES = ["P1-diagnosis", "P1-followup-1", "P1-followup-2", "P1-followup-3", "P1-followup-4"]
DEMO_READS = "resources/demo/reads/"


def _typed_cell(text, kind):
    """A cell as the schema's type says (integer, number), else as it is (the
    schema then names the field that is not a number)."""
    if kind == "integer" and re.fullmatch(r"-?\d+", text):
        return int(text)
    if kind == "number" and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


def _read_sheet(path, schema, key):
    """Rows of a TSV sheet (pandas, every cell a string; empty cells left out,
    numbers converted as the schema types them), each validated against `schema`;
    errors name the row and the field."""
    types = {k: v.get("type") for k, v in yaml.safe_load(Path(schema).read_text())["properties"].items()}
    path = SHEETS_BASE / path
    if not path.is_file():
        raise WorkflowError(f"{path}: no such sheet")
    try:
        numbered = sheets.rows(path)
    except UserError as exc:
        raise WorkflowError(str(exc)) from None
    out = []
    for n, row in numbered:
        row = {k: _typed_cell(v, types.get(k)) for k, v in row.items()}
        try:
            validate(row, schema)
        except WorkflowError as exc:
            field, message = _schema_error(exc)
            where = f"{key} '{row[key]}'" if key in row else f"no {key}"
            raise WorkflowError(f"{path}, row {n} ({where}), field '{field or '?'}': {message}") from None
        out.append((n, row))
    return path, out


SAMPLES_PATH, _sample_rows = _read_sheet(config["samples"], SCHEMAS / "samples.schema.yaml", "sample")
SETS_PATH, _set_rows = _read_sheet(config["sets"], SCHEMAS / "sets.schema.yaml", "set") if "sets" in config else (None, [])

SAMPLES = {}
for n, row in _sample_rows:
    name = row["sample"]
    if name in SAMPLES:
        raise WorkflowError(f"{SAMPLES_PATH}, row {n} (sample '{name}'), field 'sample': duplicate sample name")
    reads = [r.strip() for r in row["reads"].split(";") if r.strip()]
    reads2 = [r.strip() for r in row.get("reads2", "").split(";") if r.strip()]
    for field, files in (("reads", reads), ("reads2", reads2)):
        for read in files:
            generated = config["demo"] and read.startswith(DEMO_READS)
            if not generated and not Path(read).is_file():
                raise WorkflowError(f"{SAMPLES_PATH}, row {n} (sample '{name}'), field '{field}': no such file: {read}")
    if reads2 and len(reads2) != len(reads):
        raise WorkflowError(
            f"{SAMPLES_PATH}, row {n} (sample '{name}'), field 'reads2': {len(reads2)} file(s) for "
            f"{len(reads)} in 'reads': give one second-mate file per first-mate file"
        )
    if ("spike" in row) != ("spike_copies" in row):
        raise WorkflowError(f"{SAMPLES_PATH}, row {n} (sample '{name}'), field 'spike': give both spike and spike_copies")
    SAMPLES[name] = {**row, "reads": reads, "reads2": reads2, "row": n}

if not SAMPLES:
    raise WorkflowError(f"{SAMPLES_PATH}: no sample (a header without rows)")

SETS = {}
for n, row in _set_rows:
    if row["set"] in SETS:
        raise WorkflowError(f"{SETS_PATH}, row {n} (set '{row['set']}'), field 'set': duplicate set name")
    SETS[row["set"]] = {**row, "samples": [], "row": n}
for name, sample in SAMPLES.items():
    for set_name in [s.strip() for s in sample.get("sets", "").split(";") if s.strip()]:
        if set_name not in SETS:
            raise WorkflowError(
                f"{SAMPLES_PATH}, row {sample['row']} (sample '{name}'), field 'sets': "
                f"set '{set_name}' is not in {SETS_PATH or 'the sets sheet (config: sets)'}"
            )
        SETS[set_name]["samples"].append(name)
for set_name, s in SETS.items():
    # Samples in a set: by `order`, else by `date`, else in sheet order.
    s["samples"].sort(
        key=lambda name: (SAMPLES[name].get("order", 0), SAMPLES[name].get("date", ""), SAMPLES[name]["row"])
    )
SETS = {name: s for name, s in SETS.items() if s["samples"]}
for set_name, s in SETS.items():
    if "diagnosis" in s and s["diagnosis"] not in s["samples"]:
        raise WorkflowError(
            f"{SETS_PATH}, row {s['row']} (set '{set_name}'), field 'diagnosis': "
            f"'{s['diagnosis']}' is not a sample of the set ({', '.join(s['samples'])})"
        )


def _digest(*texts):
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()


CONFIG_SHA256 = _digest(json.dumps(config, sort_keys=True, default=str))
SAMPLES_SHA256 = _digest(SAMPLES_PATH.read_text(), SETS_PATH.read_text() if SETS_PATH else "")
# A run is what this configuration and these sheets ask for: the same ones, the same run.
RUN_ID = _digest(CONFIG_SHA256, SAMPLES_SHA256)[:12]


wildcard_constraints:
    analysis="|".join(re.escape(a) for a in config["analyses"]),
    sample="|".join(re.escape(s) for s in SAMPLES),
    set="|".join(re.escape(s) for s in SETS) or "(?!)",
    species="|".join(SPECIES_STEM),


def rule_setting(rule_name, key):
    return config["resources"][rule_name][key]


def sample_reads(wildcards):
    sample = SAMPLES[wildcards.sample]
    return sample["reads"] + sample["reads2"]


def reads_arguments(wildcards):
    """The read files on `vidjil detect`'s command line: pairs as --r1/--r2."""
    sample = SAMPLES[wildcards.sample]
    if not sample["reads2"]:
        return " ".join(shlex.quote(r) for r in sample["reads"])
    pairs = zip(sample["reads"], sample["reads2"], strict=True)
    return " ".join(f"--r1 {shlex.quote(r1)} --r2 {shlex.quote(r2)}" for r1, r2 in pairs)


def _analysis_germline(analysis):
    """(germline file, input the workflow must build or None)."""
    preset = ANALYSES[analysis]
    path = preset.get("germline") or config["germline"].get("path")
    if path:
        return path, None
    species = config["germline"]["species"]
    return layout.built_germline(species, SPECIES_STEM[species]), layout.built_germline_manifest(species)


def analysis_germline_input(wildcards):
    built = _analysis_germline(wildcards.analysis)[1]
    return [built] if built else []


def detect_options(wildcards):
    preset = ANALYSES[wildcards.analysis]
    germline, _ = _analysis_germline(wildcards.analysis)
    d = config["detect"]
    options = [f"-g {germline}", f"--systems {preset.get('systems', 'all')}"]
    options += [f"{flag} {d[key]}" for key, flag in DETECT_FLAGS.items() if key in d]
    clone_reads = analysis_clone_reads(wildcards.analysis)
    if clone_reads:
        options.append(f"--clone-reads {clone_reads}")
    options += umi_options(wildcards.analysis, wildcards.sample)
    options += [preset.get("options", ""), d["options"]]
    return " ".join(o for o in options if o)


def umi_options(analysis, sample):
    """`--umi` and its options: the analysis preset's `umi`, else `detect.umi`; the
    sample sheet's `umi` column overrides the source (`none`: reads are counted)."""
    umi = ANALYSES[analysis].get("umi", config["detect"].get("umi", {}))
    source = SAMPLES[sample].get("umi") or umi.get("source", "none")
    if source == "none":
        return []
    options = [f"--umi {source}"]
    if "spacer" in umi and source.startswith(("r1:", "r2:")):
        options.append(f"--umi-spacer {umi['spacer']}")
    if "min_reads_per_umi" in umi:
        options.append(f"--min-reads-per-umi {umi['min_reads_per_umi']}")
    return options


def analysis_clone_reads(analysis):
    """The top clones whose reads an analysis writes (`--clone-reads`): its preset's
    `clone_reads`, else `detect.clone_reads`; 0 (or left out): none."""
    return ANALYSES[analysis].get("clone_reads", config["detect"].get("clone_reads", 0))


# Analyses that write the reads of their top clones (rule detect_clone_reads), and the others.
CLONE_READS_ANALYSES = [a for a in config["analyses"] if analysis_clone_reads(a)]


def analyses_pattern(names):
    return "|".join(re.escape(a) for a in names) or "(?!)"


# config `detect:` keys and the `vidjil detect` flags they set.
DETECT_FLAGS = {"min_reads": "-r", "designate": "-z", "window": "-w", "e_value": "-e"}


def sample_result(kind):
    """Output path of a sample's result file (wildcards analysis, sample)."""
    return f"{RESULTS}/{layout.sample_file('{analysis}', '{sample}', kind)}"


def set_result(kind):
    """Output path of a set's fused result file (wildcards analysis, set)."""
    return f"{RESULTS}/{layout.set_file('{analysis}', '{set}', kind)}"


def set_sample_results(wildcards):
    return [f"{RESULTS}/{layout.sample_file(wildcards.analysis, s, 'vidjil')}" for s in SETS[wildcards.set]["samples"]]


def fuse_options(wildcards):
    """`--top N` when the config sets it (else `vidjil fuse`'s default), the spike-in,
    and the MRD settings: the set's diagnosis and markers, the config's fractions,
    the index of earlier runs."""
    top = f"--top {config['fuse']['top']}" if "top" in config["fuse"] else ""
    sample_set = SETS[wildcards.set]
    mrd = [f"--index {shlex.quote(index_path())}"]
    if "diagnosis" in sample_set:
        mrd.append(f"--diagnosis {shlex.quote(sample_set['diagnosis'])}")
    markers = [m.strip() for m in sample_set.get("markers", "").split(";") if m.strip()]
    mrd += [f"--marker {shlex.quote(m)}" for m in markers]
    for key, flag in (("marker_fraction", "--marker-fraction"), ("new_clone_fraction", "--new-clone-fraction")):
        if key in config["mrd"]:
            mrd.append(f"{flag} {config['mrd'][key]}")
    return " ".join(o for o in (top, spike_options(wildcards), *mrd) if o)


def index_path():
    """The index of the results folder: earlier runs, read (never an input: the
    index rule writes it after every result of this run)."""
    return f"{RESULTS}/{layout.INDEX}"


def contamination_options(wildcards):
    sets = f" --sets-sheet {shlex.quote(str(SETS_PATH))}" if SETS_PATH else ""
    fraction = config["mrd"].get("contamination_fraction")
    limit = f" --min-fraction {fraction}" if fraction else ""
    return f"--samples-sheet {shlex.quote(str(SAMPLES_PATH))}{sets} --index {shlex.quote(index_path())}{limit}"


def report_contamination(wildcards):
    """A run set's report shows its contamination table; other sets have none."""
    if layout.SET_TYPE_FILES["contamination"] != SETS[wildcards.set]["type"]:
        return []
    return [f"{RESULTS}/{layout.set_file(wildcards.analysis, wildcards.set, 'contamination')}"]


def spike_options(wildcards):
    """`--spike SEQ --spike-copies N...` when the set's samples declare a spike-in."""
    members = [SAMPLES[s] for s in SETS[wildcards.set]["samples"]]
    spikes = {m.get("spike") for m in members}
    if spikes == {None}:
        return ""
    if len(spikes) > 1:
        raise WorkflowError(f"set '{wildcards.set}': its samples must all declare the same spike sequence")
    copies = " ".join(str(m["spike_copies"]) for m in members)
    return f"--spike {spikes.pop()} --spike-copies {copies}"


def all_results():
    out = []
    for analysis in config["analyses"]:
        for sample in SAMPLES:
            out += layout.sample_files(analysis, sample, optional=analysis in CLONE_READS_ANALYSES)
        for set_name in SETS:
            out += layout.set_files(analysis, set_name, SETS[set_name]["type"])
    return [f"{RESULTS}/{path}" for path in out]


def index_output():
    return f"{RESULTS}/{layout.run_indexed_mark(RUN_ID)}"


def cohort_output():
    return f"{RESULTS}/{layout.run_cohort_mark(RUN_ID)}"


def sheet_options():
    sets = f" --sets {SETS_PATH}" if SETS_PATH else ""
    return f"--samples {SAMPLES_PATH}{sets}"


def _profile():
    """The profile Snakemake was started with (`--profile NAME` or $SNAKEMAKE_PROFILE)."""
    argv = sys.argv
    for k, arg in enumerate(argv):
        if arg == "--profile" and k + 1 < len(argv):
            return Path(argv[k + 1]).name
        if arg.startswith("--profile="):
            return Path(arg.split("=", 1)[1]).name
    return Path(os.environ.get("SNAKEMAKE_PROFILE", "")).name or "none"


def run_info_options():
    from snakemake import __version__ as snakemake_version

    info = {
        "config_sha256": CONFIG_SHA256,
        "samples_sha256": SAMPLES_SHA256,
        "snakemake_version": snakemake_version,
        "profile": _profile(),
    }
    return " ".join(f"--info {k}={v}" for k, v in info.items() if v)


def fuse_sheet_options(wildcards):
    """The sample sheet and the set's name, type, info and analysis: the fused file
    carries them (samples.names/timestamp/info, _set) for the viewer and the report."""
    sample_set = SETS[wildcards.set]
    values = {
        "--samples-sheet": str(SAMPLES_PATH),
        "--set-name": wildcards.set,
        "--set-type": sample_set.get("type", ""),
        "--set-info": sample_set.get("info", ""),
        "--analysis": wildcards.analysis,
    }
    return " ".join(f"{flag} {shlex.quote(value)}" for flag, value in values.items() if value)


SHEET_VALUES = ("date", "info", "dna_ng", "pg_per_cell", "replicate", "sets")


def set_sheet_values(wildcards):
    """What the fused file and its MRD tables take from the sheets (names, dates,
    info, DNA inputs, replicates, patients; the set's row): a parameter of the fuse
    rule, so that an edit of them in a sheet fuses the set again."""
    members = [[s, *(str(SAMPLES[s].get(k, "")) for k in SHEET_VALUES)] for s in SETS[wildcards.set]["samples"]]
    own = {k: v for k, v in SETS[wildcards.set].items() if k not in ("samples", "row")}
    return [members, sorted(own.items())]
