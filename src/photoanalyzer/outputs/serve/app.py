"""The web application: routes, their handlers, and the error pages. Handlers that read the
catalog or run a search are plain functions, which Starlette runs in its thread pool; each
opens the catalog read-only for itself (SQLite connections stay in their thread). The only
writes are to persons (a name, a merge, a face taken from its person), through naming.py,
under the run lock and with the server's secret; nothing writes to a photo folder, and no
route deletes or moves anything. Only the upload (uploads.py) and those writes (naming.py)
read a request body, each bounded; every other route takes GET alone and never reads one."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from photoanalyzer.catalog import Catalog
from photoanalyzer.errors import FatalError, ModelUnavailable, UsageError
from photoanalyzer.ml import random_weights
from photoanalyzer.outputs.search.engine import (
    SearchRequest,
    SearchResult,
    SearchSession,
    SearchSettings,
    search,
)
from photoanalyzer.outputs.search.output import describe_query
from photoanalyzer.outputs.search.query import Term
from photoanalyzer.outputs.serve import files
from photoanalyzer.outputs.serve.forms import Examples, search_request
from photoanalyzer.outputs.serve.guard import Guard, is_loopback
from photoanalyzer.outputs.serve.naming import SECRET_FIELD, Forms, NamePerson, Naming, Refused
from photoanalyzer.outputs.serve.people import PeopleViews
from photoanalyzer.outputs.serve.report_live import LiveReport
from photoanalyzer.outputs.serve.uploads import TooLarge, UploadStore
from photoanalyzer.outputs.serve.views import photo_view
from photoanalyzer.pathnames import readable

log = logging.getLogger("photoanalyzer.serve")

MORE_LIKE_THIS = 12
MAX_ID = 2**63 - 1  # SQLite's largest integer
STATIC_FILES = {
    "serve.css": "text/css",
    "serve.js": "text/javascript",
    "icon.svg": "image/svg+xml",
}
_STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class ServeSettings:
    search: SearchSettings
    phases: list[tuple[str, list[str]]]  # (name, kinds) of each phase, for the report
    near_duplicate_distance: int
    host: str
    token: str | None  # required for every request; None only on a loopback address
    # run/people_step.name_person, as `photoanalyze people name` uses it (handed in by the
    # command: outputs/ may not import run/)
    name_person: NamePerson
    max_upload_bytes: int = 32 * 2**20


def make_app(settings: ServeSettings, session: SearchSession | None = None) -> Starlette:
    """The application for one catalog. Refuses to make one that would answer another
    machine without a token."""
    if settings.token is None and not is_loopback(settings.host):
        raise ValueError(f"serving on {settings.host} (not a loopback address) needs a token")
    web = _Web(settings, session or SearchSession(many_queries=True))
    routes = [
        Route("/", web.search_page),
        Route("/photo/{file_id:int}", web.photo_page),
        Route("/thumb/{file_id:int}", web.thumbnail),
        Route("/thumb/{file_id:int}/{frame:int}", web.thumbnail),
        Route("/original/{file_id:int}", web.original),
        Route("/upload", web.upload, methods=["POST"]),
        Route("/people", web.people_page),
        Route("/person/{person_id:int}", web.person_page),
        Route("/person/{person_id:int}/name", web.name_person, methods=["POST"]),
        Route("/person/{person_id:int}/merge", web.merge_person, methods=["POST"]),
        Route("/face/{face_id:int}", web.face_crop),
        Route("/face/{face_id:int}/reject", web.reject_face, methods=["POST"]),
        Route("/report", web.report_index),
        Route("/report/{name:str}", web.report_page),
        Route("/static/{name:str}", web.static),
        Route("/favicon.ico", web.favicon),
    ]
    handlers = {HTTPException: web.http_error, Exception: web.server_error}
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=settings.token, error_page=web.error_response)],
        exception_handlers=handlers,
        lifespan=web.lifespan,
    )
    app.state.web = web
    return app


class _Web:
    def __init__(self, settings: ServeSettings, session: SearchSession):
        self.settings, self.session = settings, session
        self.thumbnail_dir = settings.search.thumbnail_dir
        self.people = PeopleViews(self.thumbnail_dir)
        self.forms = Forms()
        self.naming = Naming(Path(settings.search.catalog_path), settings.name_person)
        self.report = LiveReport(
            settings.search.catalog_path,
            self.thumbnail_dir,
            settings.phases,
            settings.near_duplicate_distance,
            self.people.card_crop,
        )
        self.upload_folder = Path(tempfile.mkdtemp(prefix="photoanalyze-serve-"))
        self.uploads = UploadStore(settings.max_upload_bytes, self.upload_folder)
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("photoanalyzer.outputs.serve", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(readable=readable, basename=os.path.basename)
        self.env.globals.update(
            random_warning=random_weights.warning,
            random_models=random_weights.random_models,
            secret_field=SECRET_FIELD,
            secret=self.forms.secret,
        )

    @asynccontextmanager
    async def lifespan(self, app):
        try:
            yield
        finally:
            shutil.rmtree(self.upload_folder, ignore_errors=True)

    # -- pages ---------------------------------------------------------------------------

    def search_page(self, request: Request) -> Response:
        params = request.query_params
        asked = any(key not in ("top", "sort") for key in params)
        context = {
            "params": params, "result": None, "error": None, "query": "", "examples": [],
            "persons": self._named_persons(),
        }  # fmt: skip
        status = 200
        if asked:
            try:
                result = self._search(params)
                context.update(result=result, query=describe_query(result.terms))
            except UsageError as exc:
                context["error"], status = str(exc), 400
            except ModelUnavailable as exc:
                context["error"], status = str(exc), 503
        return self._page("search.html", context, status)

    def photo_page(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        catalog = self._catalog()
        try:
            view = photo_view(
                catalog, file_id, self.thumbnail_dir, self.settings.near_duplicate_distance,
                self.people,
            )  # fmt: skip
        finally:
            catalog.close()
        if view is None:
            raise HTTPException(404, f"the catalog has no present file with id {file_id}")
        similar = self._more_like_this(view.facts) if view.facts["has_embedding"] else None
        original = view.facts["file_type"] in files.BROWSER_TYPES
        return self._page("photo.html", {"view": view, "similar": similar, "original": original})

    def people_page(self, request: Request) -> Response:
        catalog = self._catalog()
        try:
            cards = self.people.cards(catalog)
        finally:
            catalog.close()
        return self._page("people.html", {"cards": cards})

    def person_page(self, request: Request) -> Response:
        person_id = _id(request, "person_id")
        catalog = self._catalog()
        try:
            person = self.people.person(catalog, person_id)
        finally:
            catalog.close()
        if person is None:
            raise HTTPException(404, f"the catalog has no person #{person_id}")
        return self._page("person.html", {"person": person})

    def _more_like_this(self, facts: dict) -> SearchResult | None:
        request = SearchRequest(
            examples=(Term(1, 1.0, image=facts["path"]),), top=MORE_LIKE_THIS,
            words_read_disk=False,
        )  # fmt: skip
        return search(self.settings.search, request, self.session)

    def _search(self, params) -> SearchResult:
        examples = Examples(like_path=self._embedded_path, upload=self.uploads.get)
        return search(self.settings.search, search_request(params, examples), self.session)

    def _named_persons(self) -> list[tuple[int, str]]:
        """(id, name) of the named persons: what the person box suggests."""
        catalog = self._catalog()
        try:
            return [(i, name) for i, name in catalog.search.person_names() if name]
        finally:
            catalog.close()

    def _embedded_path(self, file_id: int) -> str | None:
        """The path of a present file with a current embedding: "more like this" uses the
        stored vector and never opens the file."""
        catalog = self._catalog()
        try:
            original = catalog.photos.original(file_id)
            if original is None or catalog.search.stored_embedding(original.path) is None:
                return None
            return original.path
        finally:
            catalog.close()

    # -- files, by id ------------------------------------------------------------------------

    def thumbnail(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        frame = request.path_params.get("frame")
        catalog = self._catalog()
        try:
            key = catalog.photos.thumbnail(file_id, frame)
        finally:
            catalog.close()
        data = files.read_thumbnail(self.thumbnail_dir, key) if key else None
        if data is None:
            raise HTTPException(404, "no thumbnail for that file")
        etag = '"' + hashlib.blake2s(key.encode(), digest_size=8).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"etag": etag})
        return Response(
            data,
            media_type="image/jpeg",
            headers={"etag": etag, "cache-control": "private, no-cache"},
        )

    def original(self, request: Request) -> Response:
        catalog = self._catalog()
        try:
            indexed = catalog.photos.original(request.path_params["file_id"])
        finally:
            catalog.close()
        opened = files.open_original(indexed) if indexed is not None else None
        if opened is None:
            raise HTTPException(
                404,
                "no original to show: the file is not in the catalog, has changed since it "
                "was indexed, or is of a type browsers do not show (its page has the "
                "thumbnail)",
            )
        return StreamingResponse(
            opened.chunks,
            media_type=opened.media_type,
            headers={
                "content-length": str(opened.size),
                "content-disposition": "inline",
                "cache-control": "private, no-cache",
            },
        )

    def face_crop(self, request: Request) -> Response:
        """A face's crop, cut from the stored thumbnail by its face id (nothing else of the
        request is used)."""
        face_id = _id(request, "face_id")
        catalog = self._catalog()
        try:
            crop = self.people.crop(catalog, face_id)
        finally:
            catalog.close()
        if crop is None:
            raise HTTPException(404, f"no face {face_id} with a thumbnail to cut it from")
        if request.headers.get("if-none-match") == crop.etag:
            return Response(status_code=304, headers={"etag": crop.etag})
        return Response(
            crop.jpeg,
            media_type="image/jpeg",
            headers={"etag": crop.etag, "cache-control": "private, no-cache"},
        )

    async def upload(self, request: Request) -> Response:
        """The body is the picture itself (the page's script sends the chosen file);
        answered with the address of the search by it."""
        try:
            self.uploads.check_length(request.headers.get("content-length"))
            path = await self.uploads.receive(request.stream())
        except TooLarge as exc:
            # Closed after the answer: the rest of the body is never read.
            return JSONResponse(
                {"error": str(exc)}, status_code=413, headers={"connection": "close"}
            )
        try:
            vectors, _, random = await run_in_threadpool(
                self.session.encode, self.settings.search, [str(path)], []
            )
        except (UsageError, ModelUnavailable) as exc:
            status = 503 if isinstance(exc, ModelUnavailable) else 400
            message = str(exc).replace(str(path), "the uploaded picture")
            return JSONResponse({"error": message}, status_code=status)
        finally:
            path.unlink(missing_ok=True)
        name = unquote(request.headers.get("x-file-name", "picture"))
        key = self.uploads.keep(vectors[0], random, name)
        return JSONResponse({"search": f"/?upload={key}"})

    # -- the writes: persons only ------------------------------------------------------------

    async def name_person(self, request: Request) -> Response:
        person_id = _id(request, "person_id")
        return await self._write(
            request, lambda fields: self.naming.name(person_id, fields.get("name", ""))
        )

    async def merge_person(self, request: Request) -> Response:
        person_id = _id(request, "person_id")
        return await self._write(
            request, lambda fields: self.naming.merge(person_id, _person_field(fields, "into"))
        )

    async def reject_face(self, request: Request) -> Response:
        face_id = _id(request, "face_id")
        return await self._write(request, lambda fields: self.naming.reject(face_id))

    async def _write(self, request: Request, change) -> Response:
        """Read the form (bounded, with the secret), make the change in the thread pool,
        and send the browser to the person's page (JSON for a program)."""
        try:
            fields = await self.forms.read(
                request.headers.get("content-type"),
                request.headers.get("content-length"),
                request.stream(),
            )
            person_id = await run_in_threadpool(change, fields)
        except Refused as exc:
            answer = self.error_response(request.scope, exc.status, str(exc))
            if exc.status in (413, 415):  # closed after the answer: the rest is never read
                answer.headers["connection"] = "close"
            return answer
        if _wants_json(request.scope):
            return JSONResponse({"person": person_id, "page": f"/person/{person_id}"})
        return RedirectResponse(f"/person/{person_id}", status_code=303)

    # -- the report, live ------------------------------------------------------------------

    def report_index(self, request: Request) -> Response:
        return RedirectResponse("/report/index.html", status_code=307)

    def report_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        static = self.report.static(name)
        if static is not None:
            return Response(static[0], media_type=static[1])
        html = self.report.page(name) if name.endswith(".html") else None
        if html is None:
            raise HTTPException(404, f"the report has no page {name}")
        return HTMLResponse(html)

    # -- the server's own files ---------------------------------------------------------------

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:  # a fixed list: no name is joined to a folder unchecked
            raise HTTPException(404, f"no such file: {name}")
        return Response((_STATIC / name).read_bytes(), media_type=STATIC_FILES[name])

    def favicon(self, request: Request) -> Response:
        return Response((_STATIC / "icon.svg").read_bytes(), media_type="image/svg+xml")

    # -- errors ------------------------------------------------------------------------------

    def http_error(self, request: Request, exc: HTTPException) -> Response:
        return self.error_response(request.scope, exc.status_code, exc.detail)

    def server_error(self, request: Request, exc: Exception) -> Response:
        """A clear page, never a traceback: what went wrong in one line where the program
        knows (a catalog it cannot read), else a generic line; the traceback goes to the
        server's log."""
        if isinstance(exc, FatalError):
            return self.error_response(request.scope, 500, str(exc))
        log.exception("error answering %s", request.url.path)
        return self.error_response(
            request.scope, 500, "the server failed to answer this; its terminal shows why"
        )

    def error_response(self, scope, status: int, message: str) -> Response:
        if _wants_json(scope):
            return JSONResponse({"error": readable(message)}, status_code=status)
        html = self.env.get_template("error.html").render(status=status, message=message)
        return HTMLResponse(html, status_code=status)

    # -- helpers --------------------------------------------------------------------------

    def _catalog(self) -> Catalog:
        return Catalog(self.settings.search.catalog_path, create=False)

    def _page(self, template: str, context: dict, status: int = 200) -> Response:
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(readable(html), status_code=status)


def _person_field(fields: dict[str, str], name: str) -> int:
    value = fields.get(name, "").strip().lstrip("#")
    if not (value.isascii() and value.isdigit() and int(value) <= MAX_ID):
        raise Refused(400, f"{name}: choose a person")
    return int(value)


def _id(request: Request, name: str) -> int:
    """An id from the path (digits, by the route); one SQLite cannot hold is no row's."""
    value = request.path_params[name]
    if value > MAX_ID:
        raise HTTPException(404, f"no {name.removesuffix('_id')} {value}")
    return value


def _wants_json(scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept" and b"application/json" in value:
            return True
    return False
