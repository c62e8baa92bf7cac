"""Germline presets: loading (with the engine), identity for provenance, and the
default set built from the pinned GenAIRR package and cached."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import UserError
from .vidjil_core import Germline, InputError

MANIFEST = "MANIFEST.json"

SPECIES = {
    "human": {"name": "Homo sapiens", "taxon": 9606, "stem": "homo-sapiens"},
    "mouse": {"name": "Mus musculus", "taxon": 10090, "stem": "mus-musculus"},
}

# Systems of the default set: (name, shortcut, color, seed, description, [(5', 4', 3')]).
# Seeds and colours follow Vidjil's presets, except TRA and TRA+D: 12s instead of
# 13s, which saves one lookup table per read (10% faster, same clones on the
# simulated benchmark). Incomplete systems only use genes (GenAIRR has no genomic
# flanks): D->J for IGH+ and TRB+, TRDV/TRDD->TRAJ for TRA+D.
SYSTEMS: list[tuple[str, str, str, str, str, list[tuple[list[str], list[str], list[str]]]]] = [
    ("TRA", "A", "#268bd2", "12s", "T-cell receptor, alpha locus", [(["TRAV"], [], ["TRAJ"])]),
    ("TRB", "B", "#cb4b16", "12s", "T-cell receptor, beta locus", [(["TRBV"], ["TRBD"], ["TRBJ"])]),
    (
        "TRB+",
        "b",
        "#eb6b36",
        "12s",
        "T-cell receptor, beta locus, incomplete Db-Jb",
        [(["TRBD"], [], ["TRBJ"])],
    ),
    ("TRG", "G", "#dc322f", "10s", "T-cell receptor, gamma locus", [(["TRGV"], [], ["TRGJ"])]),
    ("TRD", "D", "#b58900", "10s", "T-cell receptor, delta locus", [(["TRDV"], ["TRDD"], ["TRDJ"])]),
    (
        "TRA+D",
        "a",
        "#46abf2",
        "12s",
        "T-cell receptor, alpha/delta locus (Vd-Ja, Dd-Ja)",
        [(["TRDV"], ["TRDD"], ["TRAJ"]), (["TRDD"], [], ["TRAJ"])],
    ),
    ("IGH", "H", "#6c71c4", "12s", "Immunoglobulin, heavy locus", [(["IGHV"], ["IGHD"], ["IGHJ"])]),
    (
        "IGH+",
        "h",
        "#8c91e4",
        "12s",
        "Immunoglobulin, heavy locus, incomplete Dh-Jh",
        [(["IGHD"], [], ["IGHJ"])],
    ),
    ("IGK", "K", "#2aa198", "10s", "Immunoglobulin, kappa locus", [(["IGKV"], [], ["IGKJ"])]),
    ("IGL", "L", "#d33682", "10s", "Immunoglobulin, lambda locus", [(["IGLV"], [], ["IGLJ"])]),
]


def genairr_version() -> str:
    """Version of the installed GenAIRR, without importing it (slow, large)."""
    from importlib.metadata import version

    return version("GenAIRR")


def preset_digest() -> str:
    """Short digest of the default systems: a cached set built from another
    definition is not reused."""
    return hashlib.sha256(json.dumps(SYSTEMS).encode()).hexdigest()[:8]


def cache_dir() -> Path:
    if "VIDJIL_CACHE" in os.environ:
        return Path(os.environ["VIDJIL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vidjil"


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def germline_identity(germline: Germline) -> dict[str, Any]:
    """Id and checksum of a loaded preset: sha256 over the .g and every FASTA used."""
    g_path = Path(germline.path)
    digest = hashlib.sha256()
    digest.update(g_path.read_bytes())
    for f in germline.files():
        digest.update(f["rel_path"].encode())
        digest.update(bytes.fromhex(sha256_file(f["path"])))
    manifest = g_path.parent / MANIFEST
    germline_id = f"{g_path.parent.name}/{g_path.name}"
    if manifest.exists():
        try:
            germline_id = json.loads(manifest.read_text())["id"] + f"/{g_path.name}"
        except (ValueError, KeyError):
            pass
    return {
        "id": germline_id,
        "checksum": "sha256:" + digest.hexdigest(),
        "path": str(g_path),
        "systems": list(germline.system_names),
    }


def load_germline(spec: str | None, species: str = "human", quiet: bool = True, systems: str | None = None) -> Germline:
    """Load `FILE.g[:SYSTEMS]`, or the default set of `species` (built on first use).
    `systems`: `all`, `complete` (the systems without `+`: no incomplete ones) or a
    comma list, applied to the preset (not with a `:SYSTEMS` filter as well)."""
    if spec is None:
        spec = str(default_germline(species, quiet=quiet))
    try:
        germline = Germline(spec)
        if systems in (None, "all"):
            return germline
        if ":" in Path(spec).name:
            raise UserError(f"--systems: '{spec}' already selects systems")
        names = (
            [n for n in germline.system_names if "+" not in n]
            if systems == "complete"
            else [n.strip() for n in str(systems).split(",")]
        )
        if names == germline.system_names:
            return germline
        return Germline(f"{spec}:{','.join(names)}")
    except InputError as exc:
        raise UserError(str(exc)) from None


def default_germline(species: str = "human", quiet: bool = True) -> Path:
    """The `.g` of the default set, built from GenAIRR once into the cache."""
    if species not in SPECIES:
        raise UserError(f"--species: unknown species '{species}' (known: {', '.join(SPECIES)})")
    target = cache_dir() / "germline" / f"genairr-{genairr_version()}-{preset_digest()}" / species
    g_file = target / f"{SPECIES[species]['stem']}.g"
    if g_file.exists():
        return g_file
    if not quiet:
        print(f"vidjil: building the default {species} germline set into {target}", file=sys.stderr)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{species}.", dir=target.parent))
    try:
        build_germline(species, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not g_file.exists():  # not built meanwhile by a concurrent run
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return g_file


def _fasta(path: Path, alleles: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="ascii") as handle:
        for name, seq in alleles:
            handle.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                handle.write(seq[i : i + 60] + "\n")


def build_germline(species: str, out: Path) -> dict[str, Any]:
    """Write `<stem>.g`, `<stem>/*.fa` and MANIFEST.json for `species` into `out`."""
    from .genairr_refs import locus_alleles

    info = SPECIES[species]
    stem = str(info["stem"])
    fasta_dir = out / stem
    fasta_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    sources: dict[str, str] = {}
    for locus, (config, segments) in locus_alleles(species).items():
        sources[locus] = config
        for segment, alleles in segments.items():
            if not alleles:
                continue
            gene_file = f"{locus}{segment}.fa"
            _fasta(fasta_dir / gene_file, alleles)
            files[f"{locus}{segment}"] = gene_file
    systems: dict[str, Any] = {}
    for name, shortcut, color, seed, description, recombinations in SYSTEMS:
        recs = []
        for five, four, three in recombinations:
            rec: dict[str, list[str]] = {}
            for key, genes in (("5", five), ("4", four), ("3", three)):
                present = [files[g] for g in genes if g in files]
                if present:
                    rec[key] = present
            if "5" in rec and "3" in rec and len(rec.get("5", [])) == len(five):
                recs.append(rec)
        if recs:
            systems[name] = {
                "shortcut": shortcut,
                "color": color,
                "description": f"{info['name']} {description}",
                "recombinations": recs,
                "parameters": {"seed": seed},
            }
    preset = {
        "ref": f"GenAIRR {genairr_version()}",
        "species": info["name"],
        "species_taxon_id": info["taxon"],
        "path": stem,
        "systems": systems,
    }
    g_file = out / f"{stem}.g"
    g_file.write_text(json.dumps(preset, indent=2) + "\n")
    loaded = Germline(str(g_file))
    counts = {f["rel_path"]: f["alleles"] for f in loaded.files()}
    manifest = {
        "id": f"genairr-{genairr_version()}",
        "source": {"package": "GenAIRR", "version": genairr_version(), "configs": sources},
        "species": info["name"],
        "preset": g_file.name,
        "files": {str(p.relative_to(out)): sha256_file(p) for p in sorted([g_file, *fasta_dir.glob("*.fa")])},
        "alleles": counts,
        "anchors_not_found": loaded.missing_anchors(),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
