"""Pseudonyms of sample and set names, for the viewer's anonymous tokens and for
the names a team's token may not see.

A pseudonym is stable: `set-` or `sample-` and the start of the HMAC-SHA256 of the
name under a secret (the tokens file's), so the same name always reads the same
and cannot be guessed back without the secret. `Replacer` rewrites every
occurrence of the names in a text: a name is a whole word there (no letter or
digit right before or after it), in its plain, URL-quoted, HTML- and JSON-escaped
forms; where one name starts another, the longest wins."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from urllib.parse import quote

from .layout import is_valid_name

LENGTH = 10
# Runs of name characters (and '%' of URL-quoted ones); a name starts after and ends
# before a separator of them (or the run's ends).
RUN = re.compile(r"[A-Za-z0-9%][A-Za-z0-9._+%-]*")
SEPARATORS = "._+-"


def pseudonym(secret: str, name: str, kind: str) -> str:
    mac = hmac.new(secret.encode(), name.encode(), hashlib.sha256).hexdigest()
    return f"{kind}-{mac[:LENGTH]}"


def _forms(name: str) -> set[str]:
    return {name, quote(name, safe=""), html.escape(name), json.dumps(name)[1:-1]}


class Replacer:
    """Rewrites the names of `mapping` (real name -> shown name; a name shown as
    itself is kept, so that a longer kept name is not cut by a shorter hidden one)."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.words: dict[str, str] = {}
        self.others: list[tuple[str, str]] = []  # names that are not single words: replaced as strings
        self.reverse = {shown: real for real, shown in mapping.items() if shown != real}
        for real, shown in mapping.items():
            for form in _forms(real):
                if is_valid_name(real) and RUN.fullmatch(form):
                    self.words[form] = shown
                elif shown != real and form:
                    self.others.append((form, shown))
        self.others.sort(key=lambda pair: -len(pair[0]))

    def hides(self, name: str) -> bool:
        """Whether `name` is one this text shows as a pseudonym."""
        return self.words.get(name, name) != name

    def _run(self, match: re.Match[str]) -> str:
        run = match.group(0)
        starts = [0] + [k + 1 for k, c in enumerate(run) if c in SEPARATORS and k + 1 < len(run)]
        ends = [k for k, c in enumerate(run) if c in SEPARATORS and k > 0] + [len(run)]
        out, done = [], 0
        for start in starts:
            if start < done:
                continue
            end = next((e for e in reversed(ends) if e > start and run[start:e] in self.words), None)
            if end is not None:
                out += [run[done:start], self.words[run[start:end]]]
                done = end
        out.append(run[done:])
        return "".join(out)

    def text(self, text: str) -> str:
        for form, shown in self.others:
            text = text.replace(form, shown)
        if not self.reverse:
            return text
        return RUN.sub(self._run, text)
