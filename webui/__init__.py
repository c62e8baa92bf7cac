"""vidjil viewer: a read-only Flask app over a results folder and its index.

`create_app(results, token)` is the factory; `vidjil view RESULTS` serves it."""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def create_app(results: Path | str, token: str | None = None, behind_proxy: bool = False) -> Flask:
    """The viewer of `results`; with `behind_proxy`, the scheme, host and client
    address come from one reverse proxy's X-Forwarded-* headers (nginx on the
    same machine), so the token cookie is marked Secure under HTTPS."""
    from . import security, views
    from .data import DocumentCache, Results

    app = Flask(__name__)
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.config["RESULTS"] = Results(Path(results))
    app.config["DOCUMENTS"] = DocumentCache()
    app.config["TOKEN"] = token
    app.config["PER_PAGE"] = 50
    security.install(app)
    app.register_blueprint(views.viewer)
    app.register_blueprint(views.files)
    return app
