"""Access tokens of the viewer, one per team (`vidjil token new/list/revoke`).

The tokens file (JSON, mode 0600, written whole to a temporary name then renamed)
holds, for each token, its name, its groups (`*`: every group), whether it is
anonymous, when it was made and revoked, and the SHA-256 of the token: the token
itself is printed once by `token new` and stored nowhere. A revoked token keeps
its entry (the access log names it) and its name is never given again. The file
also holds the secret of the pseudonyms (`vidjil.pseudonyms`), so that they stay
the same across restarts. `TokenStore` is the viewer's view of the file: read
again whenever it changes, so that a revocation takes effect at the next request."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .atomic import atomic_outputs
from .errors import UserError
from .groups import ALL_GROUPS, check_name, parse_groups

FORMAT = "vidjil-tokens"
VERSION = 1


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Token:
    """A token's entry: never the token itself, only its SHA-256."""

    name: str
    groups: tuple[str, ...]
    sha256: str
    anonymous: bool = False
    created: str = ""
    revoked: str | None = None

    @property
    def sees_all(self) -> bool:
        return ALL_GROUPS in self.groups

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass
class TokensFile:
    secret: str
    tokens: list[Token] = field(default_factory=list)

    def find(self, given: str) -> Token | None:
        """The active token whose hash is the given token's: every entry compared
        in constant time, so the time taken says nothing of which one matched."""
        wanted = digest(given).encode()
        found = None
        for token in self.tokens:
            if hmac.compare_digest(token.sha256.encode(), wanted) and token.active:
                found = token
        return found

    def named(self, name: str) -> Token | None:
        return next((t for t in self.tokens if t.name == name), None)


def _token(path: Path, entry: Any) -> Token:
    if not isinstance(entry, dict):
        raise UserError(f"{path}: a token entry is not an object")
    try:
        token = Token(
            name=str(entry["name"]),
            groups=tuple(str(g) for g in entry["groups"]),
            sha256=str(entry["sha256"]),
            anonymous=bool(entry.get("anonymous", False)),
            created=str(entry.get("created", "")),
            revoked=entry.get("revoked"),
        )
    except (KeyError, TypeError) as exc:
        raise UserError(f"{path}: a token entry lacks {exc}") from None
    if len(token.sha256) != 64 or not token.groups:
        raise UserError(f"{path}: token '{token.name}' has no SHA-256 or no group")
    return token


def load(path: Path) -> TokensFile:
    """The tokens file; a UserError naming it when it is unreadable, not one, or
    readable by other accounts (it holds the pseudonyms' secret)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the tokens file ({exc.strerror or exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"{path}: readable by other accounts (mode {stat.S_IMODE(mode):o}): chmod 600 it")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not a tokens file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("tokens"), list):
        raise UserError(f"{path}: not a tokens file of vidjil (format)")
    if not isinstance(doc.get("secret"), str) or len(doc["secret"]) < 32:
        raise UserError(f"{path}: the tokens file has no secret")
    return TokensFile(doc["secret"], [_token(path, e) for e in doc["tokens"]])


def save(path: Path, tokens: TokensFile) -> None:
    """Written whole under a temporary name (mode 0600), then renamed."""
    doc = {"format": FORMAT, "version": VERSION, "secret": tokens.secret, "tokens": [asdict(t) for t in tokens.tokens]}

    def write(handle: Any) -> None:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(doc, handle, indent=1)
        handle.write("\n")

    try:
        with atomic_outputs() as outputs:
            outputs.write(path, write)
    except OSError as exc:
        raise UserError(f"{path}: cannot write the tokens file ({exc.strerror or exc})") from None


@contextlib.contextmanager
def _changing(path: Path) -> Iterator[TokensFile]:
    """The tokens file (a new one if missing) for a change saved at the end; one
    command at a time (a lock beside it)."""
    if not path.parent.is_dir():
        raise UserError(f"{path.parent}: no such folder for the tokens file")
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        tokens = load(path) if path.exists() else TokensFile(secrets.token_hex(32))
        yield tokens
        save(path, tokens)


def new_token(path: Path, name: str, groups_text: str, anonymous: bool = False) -> str:
    """A new token for `name` (unique in the file, revoked ones included) with these
    groups: returned, only its hash stored."""
    check_name(name, "token name")
    groups = parse_groups(groups_text)
    with _changing(path) as tokens:
        if tokens.named(name):
            raise UserError(f"{path}: a token named '{name}' exists (revoked or not): choose another name")
        value = secrets.token_urlsafe(32)
        tokens.tokens.append(Token(name, tuple(groups), digest(value), anonymous, _now()))
    return value


def revoke(path: Path, name: str) -> Token:
    if not path.exists():
        raise UserError(f"{path}: no such tokens file")
    with _changing(path) as tokens:
        token = tokens.named(name)
        if token is None:
            raise UserError(f"{path}: no token named '{name}'")
        if token.active:
            tokens.tokens = [replace(t, revoked=_now()) if t.name == name else t for t in tokens.tokens]
    return token


class TokenStore:
    """The tokens file as the viewer sees it: read at start (a UserError then),
    read again whenever it changes (size, time or inode: a rename is seen at
    once). Unreadable later on: every token is refused until it is fixed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._key = self._stat()
        self._tokens: TokensFile | None = load(path)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def current(self) -> TokensFile | None:
        key = self._stat()
        with self._lock:
            if key != self._key:
                self._key = key
                try:
                    self._tokens = load(self.path)
                except UserError:
                    self._tokens = None
            return self._tokens

    def find(self, given: str) -> Token | None:
        tokens = self.current()
        return tokens.find(given) if tokens else None

    @property
    def secret(self) -> str:
        tokens = self.current()
        return tokens.secret if tokens else ""
