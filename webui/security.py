"""Read-only and safe: GET and HEAD only, an optional access token (header, or a
cookie set from a `?token=` link), and security headers on every response."""

from __future__ import annotations

import hmac
import logging
import re
from urllib.parse import urlencode

from flask import Flask, Response, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

TOKEN_COOKIE = "vidjil_token"
TOKEN_HEADER = "X-Vidjil-Token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _given_token() -> str | None:
    header = request.headers.get(TOKEN_HEADER) or request.headers.get("Authorization", "").removeprefix("Bearer ")
    return header or request.cookies.get(TOKEN_COOKIE) or request.args.get("token")


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
        token = app.config["TOKEN"]
        if token:
            given = _given_token()
            if not given or not hmac.compare_digest(given.encode(), token.encode()):
                return render_template("error.html", message="An access token is needed."), 401
            if "token" in request.args:
                # Keep the token in a cookie and out of the address bar and logs.
                query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
                response = redirect(request.path + (f"?{query}" if query else ""))
                response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure)
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
