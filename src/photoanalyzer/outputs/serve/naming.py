"""The only writes serve makes, all to persons: name one, merge one into another, take a face
from its person ("not this person"). Each goes through the function `photoanalyze people`
uses for it (run/people_step.name_person, handed in by the command since outputs/ may not
import run/; catalog.people.merge and reject) under the catalog's run lock, which is never
waited for: while a `run` holds it the write is refused at once (Refused, 409) and nothing
is written. Nothing here deletes or moves a file, and `forget` is not offered.

A write is a POST of a small form (application/x-www-form-urlencoded, at most
MAX_FORM_BYTES: refused before reading where the declared length is larger, cut off where it
grows past it) that carries the server's secret, printed into its own pages as a hidden
field and compared in constant time: a page of another site cannot read it, so it cannot
make the user's browser write (guard.py refuses another origin's POST as well)."""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.people import person_name_problem
from photoanalyzer.errors import CatalogLocked
from photoanalyzer.library.locking import RunLock, lock_path

MAX_FORM_BYTES = 4096
MAX_FIELDS = 8
SECRET_FIELD = "secret"
FORM_TYPE = "application/x-www-form-urlencoded"
RUN_HOLDS = "a run is indexing this catalog; try again when it ends (nothing was changed)"

NamePerson = Callable[[Catalog, int, str], int]  # run/people_step.name_person


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Forms:
    """The server's secret and the checked reading of a write's form."""

    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(32)

    async def read(self, content_type: str | None, length: str | None, body: AsyncIterator[bytes]):
        """The form's fields (name -> value), once its size, type and secret are right."""
        if (content_type or "").split(";")[0].strip().lower() != FORM_TYPE:
            raise Refused(415, f"a change is sent as a form ({FORM_TYPE})")
        if length is not None and length.strip().isdigit() and int(length) > MAX_FORM_BYTES:
            raise Refused(413, f"a form is at most {MAX_FORM_BYTES} bytes")
        data = b""
        async for chunk in body:
            data += chunk
            if len(data) > MAX_FORM_BYTES:
                raise Refused(413, f"a form is at most {MAX_FORM_BYTES} bytes")
        fields = self._fields(data)
        given = fields.get(SECRET_FIELD, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self.secret.encode()):
            raise Refused(
                403, "this change does not come from this server's own page: reload the page"
            )
        return fields

    @staticmethod
    def _fields(data: bytes) -> dict[str, str]:
        try:
            pairs = parse_qsl(
                data.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError):
            raise Refused(400, "the form could not be read") from None
        fields: dict[str, str] = {}
        for key, value in pairs:
            if key in fields:
                raise Refused(400, f"the form gives {key} twice")
            fields[key] = value
        return fields


class Naming:
    """The writes, one at a time in this process (two threads' flocks on the same lock file
    would refuse each other), each under the run lock."""

    def __init__(self, catalog_path: Path, name_person: NamePerson):
        self.catalog_path, self.name_person = catalog_path, name_person
        self._one_at_a_time = threading.Lock()

    def name(self, person_id: int, name: str) -> int:
        """Name the person; the id it has afterwards (a name another person has merges the
        two into that one, as `people name` does)."""
        name = name.strip()
        problem = person_name_problem(name)
        if problem:
            raise Refused(400, problem)
        with self._writing() as catalog:
            self._person(catalog, person_id)
            return self.name_person(catalog, person_id, name)

    def merge(self, person_id: int, into: int) -> int:
        """`person_id` becomes `into` (`people merge INTO PERSON_ID`); returns `into`."""
        if person_id == into:
            raise Refused(400, f"#{person_id} and #{into} are the same person")
        with self._writing() as catalog:
            self._person(catalog, person_id)
            self._person(catalog, into)
            catalog.people.merge(into, person_id)
        return into

    def reject(self, face_id: int) -> int:
        """The face is not its person; returns the person it was taken from."""
        with self._writing() as catalog:
            person = catalog.people.reject(face_id)
        if person is None:
            raise Refused(404, f"face {face_id} does not exist or belongs to no person")
        return person

    @staticmethod
    def _person(catalog: Catalog, person_id: int) -> None:
        if catalog.people.person(person_id) is None:
            raise Refused(404, f"no person #{person_id}")

    @contextmanager
    def _writing(self) -> Iterator[Catalog]:
        with self._one_at_a_time:
            try:
                lock = RunLock(lock_path(self.catalog_path)).acquire(wait=False)
            except CatalogLocked:
                raise Refused(409, RUN_HOLDS) from None
            try:
                if not self.catalog_path.is_file():  # never a new, empty catalog
                    raise Refused(500, f"the catalog {self.catalog_path} is gone")
                catalog = Catalog(self.catalog_path)
                try:
                    yield catalog
                finally:
                    catalog.close()
            finally:
                lock.release()
