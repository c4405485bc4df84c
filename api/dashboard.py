"""The dashboard: ``/`` serves ``api/static/index.html``, ``/static/`` its script and styles.

Everything is served from the package (no CDN, no web fonts); the page polls the public JSON
routes (``/v1/settlement/*``, ``/v1/health``, ``/v1/ticker``, ``/v1/depth``) every two seconds.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")
