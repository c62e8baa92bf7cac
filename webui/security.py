"""Read-only and safe: GET and HEAD only, access tokens (header, or a cookie set
from a `?token=` link), and security headers on every response.

A request is served when it brings the single `--token` (it sees everything) or
an active token of the tokens file (`vidjil.tokens`, read again when it changes:
a revoked token is refused at its next request); without either configured,
anyone is served. Who asks becomes `g.requester` (webui/access.py says what it
may see)."""

from __future__ import annotations

import hmac
import logging
import re
from urllib.parse import urlencode

from flask import Flask, Response, g, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from vidjil.tokens import TokenStore

from .access import EVERYONE, Requester

TOKEN_COOKIE = "vidjil_token"
TOKEN_HEADER = "X-Vidjil-Token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _given_token() -> str | None:
    """The header's token, else a `?token=` link's (a new token wins over the cookie), else the cookie's."""
    header = request.headers.get(TOKEN_HEADER) or request.headers.get("Authorization", "").removeprefix("Bearer ")
    return header or request.args.get("token") or request.cookies.get(TOKEN_COOKIE)


def _requester(single: str | None, store: TokenStore | None) -> Requester | None:
    """Who the request's token is (None: refused)."""
    if not single and store is None:
        return EVERYONE
    given = _given_token()
    if not given:
        return None
    if single and hmac.compare_digest(given.encode(), single.encode()):
        return Requester("token")
    found = store.find(given) if store is not None else None
    if found is None:
        return None
    return Requester(found.name, None if found.sees_all else found.groups, found.anonymous)


class HideToken(logging.Filter):
    """The request log (Werkzeug's, to stderr and so to the journal under systemd)
    never shows a token given in a `?token=` link."""

    pattern = re.compile(r"([?&]token=)[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = self.pattern.sub(r"\1...", message), ()
        return True


def install(app: Flask) -> None:
    requests_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, HideToken) for f in requests_log.filters):
        requests_log.addFilter(HideToken())

    @app.before_request
    def guard() -> BaseResponse | tuple[str, int] | None:
        if request.method not in ("GET", "HEAD"):
            return render_template("error.html", message="This viewer is read-only."), 405
        who = _requester(app.config["TOKEN"], app.config.get("TOKENS"))
        if who is None:
            return render_template("error.html", message="An access token is needed."), 401
        g.requester = who
        given = request.args.get("token")
        if given and who is not EVERYONE:
            # Keep the token in a cookie and out of the address bar and logs.
            query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
            response = redirect(request.path + (f"?{query}" if query else ""))
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", secure=request.is_secure)
            return response
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        # A route may set its own policy (the report, isolated in a sandbox).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.method not in ("GET", "HEAD"):
            response.headers["Allow"] = "GET, HEAD"
        return response
