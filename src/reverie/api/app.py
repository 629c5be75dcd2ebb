"""The ASGI application: routers under /serve/api/v1, the envelope, and in-process indexing workers."""

from __future__ import annotations

import html
import json
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image

from .. import __version__
from ..config import Settings
from ..index.reembed import warn_if_older
from ..index.worker import start_threads
from ..models import Models
from ..search.fusion import LEVELS
from ..search.images import Searcher
from ..search.videos import VideoSearcher
from ..store import Store
from ..store.rate_limits import RateLimiter
from ..store import repairs
from ..store.removal import sweep
from . import docs, envelope, files, images, library, people, search, status, videos
from .request_id import RequestIdMiddleware
from .shedding import ShedLoad
from .signed_urls import load_secret

log = logging.getLogger("reverie")

BASE = "/serve/api/v1"
WEB = Path(__file__).resolve().parents[1] / "web"  # the web app: static files, no build step

DESCRIPTION = """Self-hosted visual search that speaks the memories.ai Visual Search API v1.

Every JSON answer is an envelope `{code, msg, data, success, failed}`. Business errors come as HTTP 200
with a non-`0000` code and `data: null`; `msg` names the field and the rule that failed. Missing or
unknown key: HTTP 401, code `0401`; disabled key: HTTP 403, code `0403`. Over an account's rate limit:
HTTP 429, code `0429`, with `Retry-After`; a metered account out of credits: HTTP 402, code `0402`,
nothing stored. The database or the object store out of reach: HTTP 503, code `0503`, with `Retry-After`,
nothing stored; retry the same request. Endpoints marked *extension*
are Reverie's own additions."""


def create_app(settings: Settings, workers: int = 0) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        Image.MAX_IMAGE_PIXELS = settings.max_image_pixels  # Pillow's bomb guard, made explicit
        store = Store.open(settings)
        app.state.store = store
        app.state.signing_secret = load_secret(store)
        app.state.limiter = RateLimiter.open(settings, store.db)
        models = Models(store.settings)  # with the library's visual model
        app.state.models = models
        app.state.searcher = Searcher.create(store, models)
        app.state.video_searcher = VideoSearcher.create(store, models)
        stop = threading.Event()
        threads = start_threads(store, models, workers, stop)
        threading.Thread(target=_sweep_quietly, args=(store,), name="reverie-sweep", daemon=True).start()
        threading.Thread(target=_say_if_vectors_are_older, args=(store, models), name="reverie-older-vectors",
                         daemon=True).start()
        threading.Thread(target=repairs.run, args=(store, stop), name="reverie-repairs", daemon=True).start()
        log.info("serving data in %s with %d in-process worker(s)", settings.data, workers)
        try:
            yield
        finally:
            stop.set()
            store.jobs_waiting.set()
            for t in threads:
                t.join(timeout=10)
            app.state.searcher.close()
            app.state.video_searcher.close()
            app.state.limiter.close()
            store.close()

    app = FastAPI(
        title="Reverie",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # docs.install serves /docs and /redoc without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        responses={200: {"model": envelope.Envelope, "description": "An envelope; see `code`"},
                   401: {"model": envelope.ErrorEnvelope, "description": "Missing or unknown key (0401)"},
                   402: {"model": envelope.ErrorEnvelope, "description": "Metered account out of credits (0402)"},
                   403: {"model": envelope.ErrorEnvelope, "description": "Disabled key (0403) or bad signature (9009)"},
                   429: {"model": envelope.ErrorEnvelope, "description": "Rate limit (0429, with Retry-After)"},
                   503: {"model": envelope.ErrorEnvelope,
                         "description": "Database or object store out of reach (0503, with Retry-After), or "
                                        "too many requests in flight (0429)"}},
    )
    envelope.install(app)
    docs.install(app)
    app.include_router(images.router, prefix=BASE, tags=["images"])
    app.include_router(videos.router, prefix=BASE, tags=["videos"])
    app.include_router(search.router, prefix=BASE, tags=["search"])
    app.include_router(people.router, prefix=BASE, tags=["people"])
    app.include_router(files.router, prefix=BASE, tags=["files"])
    app.include_router(library.router, prefix=BASE, tags=["library"])
    app.include_router(status.router, prefix=BASE, tags=["status"])
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    page = (WEB / "index.html").read_text().replace("{{LEVELS}}", html.escape(json.dumps(LEVELS)))

    @app.get("/", include_in_schema=False)
    def web_app() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(docs.FAVICON, include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(WEB / "favicon.ico", media_type="image/vnd.microsoft.icon")

    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ShedLoad, max_in_flight=settings.max_in_flight)  # outermost: sheds before any work
    return app


def _say_if_vectors_are_older(store: Store, models: Models) -> None:
    # Beside the start, not before it: on a large library the count takes a while.
    try:
        warn_if_older(store, models.visual_name)
    except Exception:
        log.exception("could not count the pictures an older visual model embedded")


def _sweep_quietly(store: Store) -> None:
    try:
        sweep(store)
    except Exception:
        log.exception("start-up sweep failed; it will run again at the next start")
