"""The catalog: the only code that speaks SQL. It speaks in plain rows: it imports no scan or
phase types. One module per concern, each an object over the same connection:

    schema.py          numbered migrations, which table holds which fields, value
                       conversion, opening (and migrating) the database, transactions
    runs.py            catalog.runs     run history: start, per-phase records, finish
    files.py           catalog.files    the files table as a walk sees it: known files
                                        below the roots, fingerprints, a reconciled walk
    results.py         catalog.results  pending work per phase, earlier phases' results
    regions.py         (functions)      MWG face regions and PersonInImage names the
                                        metadata phase read: stored with its result,
                                        named_regions, people_in_image
    queries.py         catalog.queries  export, status, near-duplicates, the benchmark
    search_queries.py  catalog.search   the change stamp, embeddings for the search
                                        matrix, filters, the facts a result shows
    report_queries.py  catalog.report   the HTML report: months, top labels, quality
                                        lists, galleries, videos with frames, errors
"""

from __future__ import annotations

from pathlib import Path

from photoanalyzer.catalog.files import Files, SyncCounts
from photoanalyzer.catalog.people import People
from photoanalyzer.catalog.photo_queries import PhotoQueries
from photoanalyzer.catalog.queries import Queries
from photoanalyzer.catalog.report_queries import ReportQueries
from photoanalyzer.catalog.results import PendingFile, ResultRow, Results
from photoanalyzer.catalog.runs import PhaseRecord, Runs
from photoanalyzer.catalog.schema import MIGRATIONS, SCHEMA_VERSION, connect, schema_version
from photoanalyzer.catalog.search_queries import FileFilter, Search
from photoanalyzer.catalog.text import TextQueries

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Catalog",
    "FileFilter",
    "PendingFile",
    "PhaseRecord",
    "ResultRow",
    "SyncCounts",
]


class Catalog:
    """An open catalog file. Catalog(path) creates it where it does not exist and migrates an
    older one (what `run` wants); Catalog(path, create=False) opens it read-only and refuses a
    missing file (a mistyped --db given to a reading command is an error, not a new empty
    catalog) and an older version (the reading commands never write)."""

    def __init__(self, path: Path, create: bool = True):
        self.path = Path(path)
        self._db = connect(self.path, create)
        self.runs = Runs(self._db)
        self.files = Files(self._db)
        self.results = Results(self._db)
        self.queries = Queries(self._db)
        self.search = Search(self._db)
        self.report = ReportQueries(self._db)
        self.text = TextQueries(self._db)
        self.people = People(self._db)
        self.photos = PhotoQueries(self._db)

    def schema_version(self) -> int:
        return schema_version(self._db)

    def close(self) -> None:
        self._db.close()
