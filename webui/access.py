"""What each request may see, and the access log.

`security.py` says who asks (`Requester`: a team token of the tokens file, the
single `--token`, or anyone when the viewer has no token). Here: the `Scope` of
its groups over the index (`vidjil.groups`: what is not in it does not exist, a
404 as for a missing id), the names it may not see (an anonymous token: every
sample and set name; a team token: those of other groups, in a contamination
table or a marker's flags, say) rewritten into pseudonyms in every response, a
pseudonym in a set's address read back, and one access-log line per request
(the token's name, never the token)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request

from vidjil.groups import Scope, scope
from vidjil.pseudonyms import Replacer, pseudonym
from vidjil.tokens import TokenStore

from .data import NotFound, Results, Unavailable

# Responses never rewritten: scripts and styles hold no names.
ASSETS = {"static", "common.plotly_js", "common.plots_js"}
# Fields of documents an anonymous token does not get: free text and read file paths.
PRIVATE_KEYS = {"info", "commandline", "command_line", "_inputs", "inputs"}
# Binary result files (a sample's clone table, which names the sample): as they are
# for a team token (its own sample), not served to an anonymous token.
BINARY_SUFFIXES = (".parquet",)


@dataclass(frozen=True)
class Requester:
    """Who asks: a token's name, its groups (None: all) and whether it is anonymous."""

    name: str
    groups: tuple[str, ...] | None = None
    anonymous: bool = False

    @property
    def filtered(self) -> bool:
        """Whether its responses are rewritten (names it may not read)."""
        return self.anonymous or self.groups is not None


EVERYONE = Requester("-")


def requester() -> Requester:
    found: Requester = g.get("requester", EVERYONE)
    return found


# What the index holds, read once per state of the index file.


@dataclass
class IndexState:
    key: tuple[int, ...]
    sets: list[str]
    samples: list[str]
    patient_sets: dict[str, list[str]]  # sample -> its sets that are not runs
    derived: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class IndexCache:
    """The names and memberships of the index, and each requester's scope and
    pseudonyms, kept until the index file changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: IndexState | None = None

    @staticmethod
    def _key(db: Path) -> tuple[int, ...]:
        parts: list[int] = []
        for path in (db, db.with_name(db.name + "-wal")):
            try:
                info = path.stat()
                parts += [info.st_mtime_ns, info.st_size, info.st_ino]
            except OSError:
                parts += [0, 0, 0]
        return tuple(parts)

    def state(self, results: Results) -> IndexState:
        key = self._key(results.db)
        with self._lock:
            if self._state is None or self._state.key != key:
                sets = results.query("SELECT name, type FROM sample_sets")
                members = results.query("SELECT sample_set, sample FROM set_members ORDER BY sample_set")
                kinds = {s["name"]: s["type"] for s in sets}
                patients: dict[str, list[str]] = {}
                for m in members:
                    if kinds.get(m["sample_set"]) != "run":
                        patients.setdefault(m["sample"], []).append(m["sample_set"])
                samples = [r["name"] for r in results.query("SELECT name FROM samples")]
                self._state = IndexState(key, [s["name"] for s in sets], samples, patients)
            return self._state

    def derived(self, results: Results, what: tuple[Any, ...], make: Any) -> Any:
        state = self.state(results)
        with self._lock:
            if what not in state.derived:
                state.derived[what] = make(state)
            return state.derived[what]


def _results() -> Results:
    base: Results = current_app.config["RESULTS"]
    return base


def current_scope() -> Scope:
    who = requester()
    if who.groups is None:
        return Scope(None, frozenset(), frozenset(), frozenset())
    results = _results()

    def make(_: IndexState) -> Scope:
        from vidjil.index import connect_read_only

        con = connect_read_only(results.db, timeout=10)
        try:
            return scope(con, who.groups)
        finally:
            con.close()

    cache: IndexCache = current_app.config["INDEX_CACHE"]
    found: Scope = cache.derived(results, ("scope", who.groups), make)
    return found


def replacer() -> Replacer | None:
    """The rewriting of names for this requester (None: it reads every name)."""
    who = requester()
    if not who.filtered or current_app.config.get("RESULTS") is None:
        return None
    seen = current_scope()
    store: TokenStore | None = current_app.config.get("TOKENS")
    secret = store.secret if store else ""

    def make(state: IndexState) -> Replacer:
        mapping: dict[str, str] = {}
        for kind, names, sees in (("sample", state.samples, seen.sees_sample), ("set", state.sets, seen.sees_set)):
            for name in names:
                mapping[name] = pseudonym(secret, name, kind) if who.anonymous or not sees(name) else name
        return Replacer(mapping)

    cache: IndexCache = current_app.config["INDEX_CACHE"]
    found: Replacer = cache.derived(_results(), ("names", who.groups, who.anonymous, secret), make)
    return found


# The checks the views make.


def _shown(kind: str, name: str) -> None:
    g.setdefault("shown", {"sets": [], "samples": []})[kind].append(name)


def check_sample(name: str) -> None:
    """A sample this requester may not see does not exist (404)."""
    if not current_scope().sees_sample(name):
        raise NotFound()
    _shown("samples", name)


def check_set(name: str) -> None:
    if not current_scope().sees_set(name):
        raise NotFound()
    _shown("sets", name)


def visible(rows: Iterable[dict[str, Any]], key: str, kind: str) -> list[dict[str, Any]]:
    """The rows whose `key` names a run, set or sample this requester may see."""
    seen = current_scope()
    sees = {"run": seen.sees_run, "set": seen.sees_set, "sample": seen.sees_sample}[kind]
    return [row for row in rows if sees(row[key])]


def results() -> Results:
    """The results folder as this requester reads it (no info fields when anonymous)."""
    return replace(_results(), hide_info=requester().anonymous)


def set_name_from_url(value: str) -> str:
    """A set's name in an address: a pseudonym read back; a name this requester
    reads as a pseudonym is no set for it ('')."""
    names = replacer()
    if names is None:
        return value
    if value in names.reverse:
        return names.reverse[value]
    return "" if names.hides(value) else value


# Documents and files as this requester receives them.


def private_removed(value: Any) -> Any:
    """A document without its free-text and read-path fields (anonymous tokens)."""
    if isinstance(value, dict):
        return {k: private_removed(v) for k, v in value.items() if k not in PRIVATE_KEYS}
    if isinstance(value, list):
        return [private_removed(v) for v in value]
    return value


def document_for_requester(doc: dict[str, Any]) -> dict[str, Any]:
    """A document with what this requester may not read removed or rewritten."""
    names = replacer()
    if names is None:
        return doc
    if requester().anonymous:
        doc = private_removed(doc)
    rewritten: dict[str, Any] = json.loads(names.text(json.dumps(doc)))
    return rewritten


class Rewritten(Response):
    """A response already made for its requester (the report re-rendered from a
    rewritten document): not rewritten again."""


def serves(path_name: str) -> bool:
    """Whether this requester may download a file of this name at all."""
    return not (requester().anonymous and path_name.endswith(BINARY_SUFFIXES))


def file_for_requester(path: Path, shown: str) -> Response | None:
    """A result file as this requester may receive it (None: as it is, send it)."""
    names = replacer()
    if names is None:
        return None
    if not serves(path.name):
        raise NotFound()
    if path.name.endswith(BINARY_SUFFIXES):
        response = Rewritten(path.read_bytes(), mimetype="application/octet-stream")
        response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
        return response
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise Unavailable(f"{shown} cannot be served to this token") from None
    if requester().anonymous and path.name.endswith((".vidjil", ".json")):
        try:
            text = json.dumps(private_removed(json.loads(text)), indent=1)
        except json.JSONDecodeError:
            raise Unavailable(f"{shown} cannot be read") from None
    response = Rewritten(names.text(text), mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{names.text(path.name)}"'
    return response


def _rewrite(response: Response) -> Response:
    names = replacer()
    if names is None or isinstance(response, Rewritten) or request.endpoint in ASSETS:
        return response
    response.direct_passthrough = False
    try:
        text = response.get_data(as_text=True)
    except UnicodeDecodeError:
        return Response("This file cannot be served to this token.", status=503, mimetype="text/plain")
    response.set_data(names.text(text))
    for header in ("Content-Disposition", "Location"):
        if header in response.headers:
            response.headers[header] = names.text(response.headers[header])
    return response


# The access log.


def _field(value: str) -> str:
    return "".join(" " if c in "\t\r\n" or ord(c) < 32 else c for c in value)


def _log_line(response: Response) -> str:
    shown = g.get("shown", {"sets": [], "samples": []})
    sets = list(dict.fromkeys(shown["sets"]))
    if shown["samples"] and current_app.config.get("RESULTS") is not None:
        try:
            patients = current_app.config["INDEX_CACHE"].state(_results()).patient_sets
        except (NotFound, Unavailable):
            patients = {}
        sets = list(dict.fromkeys(sets + [s for sample in shown["samples"] for s in patients.get(sample, [])]))
    query = "&".join(f"{k}={v}" for k, v in request.args.items(multi=True) if k != "token")
    rule = request.url_rule.rule if request.url_rule else "-"
    return "\t".join(
        _field(v)
        for v in (
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            g.get("requester", Requester("(refused)")).name,
            str(response.status_code),
            request.method,
            request.path + (f"?{query}" if query else ""),
            rule,
            ",".join(sets),
            ",".join(dict.fromkeys(shown["samples"])),
        )
    )


def access_logger(app: Flask, path: Path | None) -> logging.Logger:
    """The app's access log: this file (appended, mode 0600), else the `vidjil.access` logger."""
    if path is None:
        return logging.getLogger("vidjil.access")
    logger = logging.getLogger(f"vidjil.access.{id(app)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", buffering=1)
    logger.addHandler(logging.StreamHandler(handle))
    return logger


def install(app: Flask, access_log: Path | None) -> None:
    app.config["INDEX_CACHE"] = IndexCache()
    logger = access_logger(app, access_log)

    @app.after_request
    def rewrite_and_log(response: Response) -> Response:
        response = _rewrite(response)
        if request.endpoint not in ASSETS:
            logger.info(_log_line(response))
        return response
