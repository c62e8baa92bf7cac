"""vidjil viewer: a read-only Flask app over a results folder and its index.

`create_app(results, token)` is the factory; `vidjil view RESULTS` serves it."""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def create_app(results: Path | str, token: str | None = None) -> Flask:
    from . import security, views
    from .data import DocumentCache, Results

    app = Flask(__name__)
    app.config["RESULTS"] = Results(Path(results))
    app.config["DOCUMENTS"] = DocumentCache()
    app.config["TOKEN"] = token
    app.config["PER_PAGE"] = 50
    security.install(app)
    app.register_blueprint(views.viewer)
    app.register_blueprint(views.files)
    return app
