"""vidjil viewer: a read-only Flask app over a results folder and its index, or
over `.vidjil` files given one by one.

`create_app(results, token)` is the factory (`vidjil view RESULTS` serves it;
`tokens_file`: team tokens that see their groups only, `access_log`: one line per
request);
`create_app(files=[...])` serves the given files (`vidjil view FILE.vidjil...`),
each checked first: one that is not a `.vidjil` document is a UserError naming it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from flask import Flask


def create_app(
    results: Path | str | None = None,
    token: str | None = None,
    behind_proxy: bool = False,
    files: Sequence[Path | str] | None = None,
    tokens_file: Path | None = None,
    access_log: Path | None = None,
) -> Flask:
    """The viewer of `results` (or of `files`); with `behind_proxy`, the scheme, host
    and client address come from one reverse proxy's X-Forwarded-* headers (nginx on
    the same machine), so the token cookie is marked Secure under HTTPS."""
    from vidjil.tokens import TokenStore

    from . import access, file_views, security, views
    from .data import DocumentCache, Files, Results

    if (results is None) == (files is None):
        raise ValueError("create_app: a results folder or .vidjil files, not both")
    if tokens_file is not None and files is not None:
        raise ValueError("create_app: team tokens see the groups of an index: a results folder")
    app = Flask(__name__)
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.config["DOCUMENTS"] = DocumentCache()
    app.config["TOKEN"] = token
    app.config["TOKENS"] = TokenStore(tokens_file) if tokens_file is not None else None
    app.config["PER_PAGE"] = 50
    security.install(app)
    access.install(app, access_log)
    app.register_blueprint(views.common)
    if files is not None:
        app.config["FILES"] = Files.check(files)
        app.register_blueprint(file_views.documents)
    else:
        app.config["RESULTS"] = Results(Path(str(results)))
        app.register_blueprint(views.viewer)
        app.register_blueprint(views.files)
    return app
