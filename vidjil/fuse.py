"""`vidjil fuse`: the samples of a set in one `.vidjil` document, clones followed
over time.

Every clone in the top `--top` of at least one sample is kept and followed in all
samples (0 reads where absent), matched by window. Per-sample values are arrays in
the order the samples are given; the clone's other fields come from the sample
where it ranks best."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .errors import UserError

SAMPLE_FIELDS = ("original_names", "run_timestamp", "producer", "commandline", "log")


def read_vidjil(path: Path) -> dict[str, Any]:
    """A `.vidjil` document (plain or gzip), checked for what fusing needs."""
    try:
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
        doc = json.loads(text)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable .vidjil file ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("clones"), list) or "reads" not in doc:
        raise UserError(f"{path}: not a .vidjil document (no 'clones' list or no 'reads')")
    return doc


def _per_sample(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get("samples", {}).get(key, [])
    return value if isinstance(value, list) else [value]


def fuse(docs: list[dict[str, Any]], top: int) -> dict[str, Any]:
    """Fuse single-sample documents (in sample order)."""
    n = len(docs)
    best: dict[str, tuple[int, int, dict[str, Any]]] = {}  # id -> (rank, sample, clone)
    reads: dict[str, list[int]] = {}
    for i, doc in enumerate(docs):
        for rank, clone in enumerate(doc["clones"], start=1):
            counts = reads.setdefault(clone["id"], [0] * n)
            counts[i] = int(clone["reads"][0])
            if rank <= top and (clone["id"] not in best or rank < best[clone["id"]][0]):
                best[clone["id"]] = (rank, i, clone)
    totals = [int(d["reads"]["total"][0]) for d in docs]
    segmented = [int(d["reads"]["segmented"][0]) for d in docs]
    kept = sorted(
        best.items(),
        key=lambda item: (-max(r / max(1, s) for r, s in zip(reads[item[0]], segmented, strict=True)), item[0]),
    )
    clones = []
    for position, (clone_id, (_, sample, clone)) in enumerate(kept, start=1):
        fused = {k: v for k, v in clone.items() if k not in ("reads", "top")}
        fused["reads"] = reads[clone_id]
        fused["top"] = position
        fused["_best_sample"] = sample
        clones.append(fused)
    systems = sorted({s for d in docs for s in d["reads"].get("germline", {})})
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {
        "vidjil_json_version": "2016b",
        "producer": f"vidjil-platform {__version__} (fuse)",
        "timestamp": now,
        "samples": {"number": n} | {key: [v for d in docs for v in _per_sample(d, key)] for key in SAMPLE_FIELDS},
        "reads": {
            "total": totals,
            "segmented": segmented,
            "germline": {s: [int(d["reads"].get("germline", {}).get(s, [0])[0]) for d in docs] for s in systems},
        },
        "germlines": docs[0].get("germlines", {}),
        "clones": clones,
        "_fuse": {"top": top, "clones_followed": len(clones)},
    }


def run_fuse(inputs: list[Path], output: Path, top: int) -> dict[str, Any]:
    from .atomic import atomic_outputs

    if not inputs:
        raise UserError("fuse: no input file")
    docs = [read_vidjil(p) for p in inputs]
    fused = fuse(docs, top)
    try:
        with atomic_outputs() as outputs:
            outputs.write(output, lambda h: json.dump(fused, h, indent=1))
    except OSError as exc:
        raise UserError(f"{output}: cannot write: {exc.strerror or exc}") from None
    return fused
