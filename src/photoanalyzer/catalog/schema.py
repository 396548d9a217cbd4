"""The catalog's schema and connection: numbered migrations, which table holds each phase's
fields, how values are stored, opening (and migrating) the database, transactions."""

from __future__ import annotations

import json
import operator
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photoanalyzer.errors import CatalogError
from photoanalyzer.pathnames import readable, undecodable


def text_migration(db: sqlite3.Connection) -> str:
    """The text phase (docs/text.md): per file the screenshot flag and the whole text with its
    lines (`text`, as JSON, what the export shows), each line a row of `text_lines` (frame -1
    for a photo), and the search index: `text_index` holds each file's text folded (case
    and accents removed, catalog/text.py), and where the running SQLite has FTS5's trigram
    tokenizer (3.34 and later), `text_fts` indexes it for substring search. The index rows go
    when the file's text result goes stale (its phase status is deleted), in the same
    transaction. Without trigram search falls back to LIKE on text_index."""
    return _TEXT_TABLES + (_TEXT_FTS if has_trigram(db) else "")


def has_trigram(db: sqlite3.Connection) -> bool:
    """Whether this SQLite builds FTS5 tables with the trigram tokenizer."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.trigram_probe USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    db.execute("DROP TABLE temp.trigram_probe")
    return True


_TEXT_TABLES = """
    CREATE TABLE text (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        screenshot INTEGER,
        screenshot_reason TEXT,
        text TEXT,
        text_line_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE text_lines (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        frame INTEGER NOT NULL,
        line INTEGER NOT NULL,
        box TEXT NOT NULL,
        text TEXT NOT NULL,
        confidence REAL NOT NULL,
        PRIMARY KEY (file_id, frame, line)
    ) WITHOUT ROWID;
    CREATE TABLE text_index (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        folded TEXT NOT NULL
    );
    CREATE TRIGGER text_stale AFTER DELETE ON phase_status WHEN old.phase = 'text' BEGIN
        DELETE FROM text_index WHERE file_id = old.file_id;
        DELETE FROM text_lines WHERE file_id = old.file_id;
    END;
"""
_TEXT_FTS = """
    CREATE VIRTUAL TABLE text_fts USING fts5(
        folded, content='text_index', content_rowid='file_id', tokenize='trigram'
    );
    CREATE TRIGGER text_fts_insert AFTER INSERT ON text_index BEGIN
        INSERT INTO text_fts (rowid, folded) VALUES (new.file_id, new.folded);
    END;
    CREATE TRIGGER text_fts_delete AFTER DELETE ON text_index BEGIN
        INSERT INTO text_fts (text_fts, rowid, folded) VALUES ('delete', old.file_id, old.folded);
    END;
    CREATE TRIGGER text_fts_update AFTER UPDATE ON text_index BEGIN
        INSERT INTO text_fts (text_fts, rowid, folded) VALUES ('delete', old.file_id, old.folded);
        INSERT INTO text_fts (rowid, folded) VALUES (new.file_id, new.folded);
    END;
"""


# Migration N brings a catalog from schema version N-1 to N. Append only; never edit one
# that has shipped.
# A migration is its SQL, or a function of the connection that returns it (where the SQL
# depends on what the running SQLite supports).
MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], str], ...] = (
    """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        missing INTEGER NOT NULL DEFAULT 0,
        first_seen_run INTEGER NOT NULL,
        last_change_run INTEGER NOT NULL
    );
    -- One row per file and phase: the phase version that produced the result, and the error
    -- text when it failed. A file is pending for a phase while it has no row of the current
    -- version; a changed file loses its rows.
    CREATE TABLE phase_status (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        version TEXT NOT NULL,
        error TEXT,
        run_id INTEGER NOT NULL,
        PRIMARY KEY (file_id, phase)
    ) WITHOUT ROWID;
    CREATE TABLE metadata (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        file_type TEXT,
        width INTEGER,
        height INTEGER,
        orientation INTEGER,
        taken_at TEXT,
        subsec TEXT,
        make TEXT,
        model TEXT,
        lens TEXT,
        lens_make TEXT,
        exposure_time REAL,
        f_number REAL,
        iso INTEGER,
        focal_length REAL,
        focal_length_35mm INTEGER,
        gps_lat REAL,
        gps_lon REAL,
        gps_alt REAL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        roots TEXT NOT NULL,
        phases TEXT NOT NULL,
        files_seen INTEGER NOT NULL DEFAULT 0,
        files_new INTEGER NOT NULL DEFAULT 0,
        files_changed INTEGER NOT NULL DEFAULT 0,
        files_missing INTEGER NOT NULL DEFAULT 0,
        scan_seconds REAL NOT NULL DEFAULT 0
    );
    CREATE TABLE run_phases (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        version TEXT NOT NULL,
        processed INTEGER NOT NULL,
        errors INTEGER NOT NULL,
        seconds REAL NOT NULL,
        PRIMARY KEY (run_id, phase)
    );
    CREATE TABLE scan_problems (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE content (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        thumbnail TEXT,
        sharpness REAL,
        tenengrad REAL,
        blurry INTEGER,
        brightness REAL,
        highlights_clipped REAL,
        shadows_crushed REAL,
        underexposed INTEGER,
        overexposed INTEGER,
        contrast REAL,
        colorfulness REAL,
        dominant_colors TEXT,
        phash TEXT,
        dhash TEXT
    );
    """,
    """
    CREATE TABLE ml (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        top_scene TEXT,
        scenes TEXT,
        objects TEXT,
        object_counts TEXT,
        ml_random_weights INTEGER,
        embedding BLOB
    );
    -- What a phase reports about a run as a whole: why it could not run, and its details
    -- (the ML backend and why faster ones were skipped, weights, batch size, GPU use).
    ALTER TABLE run_phases ADD COLUMN failure TEXT;
    ALTER TABLE run_phases ADD COLUMN details TEXT;
    """,
    """
    -- Rename and move detection: a file that reappears under a new path with the same
    -- fingerprint keeps its row, and so its results. full_hash is filled in only where two
    -- files share a fingerprint.
    ALTER TABLE files ADD COLUMN fingerprint TEXT;
    ALTER TABLE files ADD COLUMN full_hash TEXT;
    CREATE INDEX files_by_fingerprint ON files (fingerprint);
    ALTER TABLE runs ADD COLUMN files_moved INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Videos: the metadata phase reads them too.
    ALTER TABLE metadata ADD COLUMN duration REAL;
    ALTER TABLE metadata ADD COLUMN frame_rate REAL;
    ALTER TABLE metadata ADD COLUMN video_codec TEXT;
    ALTER TABLE metadata ADD COLUMN rotation INTEGER;
    ALTER TABLE metadata ADD COLUMN has_audio INTEGER;
    ALTER TABLE metadata ADD COLUMN bitrate INTEGER;
    """,
    """
    -- The frames of a video that the content and ML phases analyze, linked to the video's row
    -- (so they follow it through renames and go with it when it changes).
    CREATE TABLE video_frames (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        frame INTEGER NOT NULL,
        timestamp REAL NOT NULL,
        thumbnail TEXT,
        sharpness REAL,
        brightness REAL,
        colorfulness REAL,
        phash TEXT,
        top_scene TEXT,
        scenes TEXT,
        objects TEXT,
        embedding BLOB,
        PRIMARY KEY (file_id, frame)
    ) WITHOUT ROWID;
    """,
    """
    -- taken_at held naive local time for photos without an offset and an aware time for the
    -- rest, which neither means one thing nor sorts. Now: taken_at is always the naive local
    -- wall-clock time, the offset has its own column, and the UTC instant is derived where the
    -- offset is known. Existing rows are split here, so no row keeps the old meaning until the
    -- files are read again (metadata-2 re-reads them for the OffsetTime fallback).
    ALTER TABLE metadata ADD COLUMN taken_at_offset TEXT;
    ALTER TABLE metadata ADD COLUMN taken_at_utc TEXT;
    UPDATE metadata
        SET taken_at_offset = substr(taken_at, 20), taken_at = substr(taken_at, 1, 19)
        WHERE length(taken_at) = 25 AND substr(taken_at, 20, 1) IN ('+', '-');
    UPDATE metadata
        SET taken_at_utc = strftime('%Y-%m-%dT%H:%M:%SZ', taken_at || taken_at_offset)
        WHERE taken_at_offset IS NOT NULL;
    """,
    """
    -- Known files a run could not check are not marked missing: those below a folder it
    -- could not read, and those outside the scanned folders whose folder is gone too (an
    -- unmounted disk, a folder moved away). The run counts them (NULL: a run that did not get
    -- as far as comparing its walk, or one made before this column), and each such folder's
    -- scan problem says how many known files below it were not checked.
    ALTER TABLE runs ADD COLUMN files_unreachable INTEGER;
    ALTER TABLE scan_problems ADD COLUMN unchecked INTEGER NOT NULL DEFAULT 0;
    """,
    """
    -- Search keeps a derived matrix of the embeddings beside the catalog. This stamp says
    -- which state of the catalog a matrix was built from: `catalog` tells this catalog from
    -- one made later at the same path, and the triggers bump `counter` in the same
    -- transaction as every write that changes what search reads (ML results, video frames,
    -- the ML phase's status, files added, moved, changed, missing or back), whichever code
    -- makes it.
    CREATE TABLE search_stamp (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        catalog TEXT NOT NULL,
        counter INTEGER NOT NULL
    );
    INSERT INTO search_stamp VALUES (1, lower(hex(randomblob(8))), 0);
    CREATE TRIGGER search_ml_insert AFTER INSERT ON ml
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_ml_update AFTER UPDATE ON ml
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_ml_delete AFTER DELETE ON ml
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_frames_insert AFTER INSERT ON video_frames
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_frames_update AFTER UPDATE OF embedding, timestamp ON video_frames
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_frames_delete AFTER DELETE ON video_frames
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_status_insert AFTER INSERT ON phase_status WHEN new.phase = 'ml'
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_status_update AFTER UPDATE ON phase_status
        WHEN new.phase = 'ml' OR old.phase = 'ml'
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_status_delete AFTER DELETE ON phase_status WHEN old.phase = 'ml'
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_files_insert AFTER INSERT ON files
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_files_update AFTER UPDATE OF path, kind, missing, size, mtime_ns
        ON files BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    CREATE TRIGGER search_files_delete AFTER DELETE ON files
        BEGIN UPDATE search_stamp SET counter = counter + 1; END;
    """,
    """
    -- Where taken_at_offset came from: exif, video-utc or none (metadata phase), gps (places
    -- phase). Left NULL here: metadata-3 reads every file again and fills it in, since a
    -- video's +00:00 cannot tell a UTC-only creation time from a zone that is UTC.
    ALTER TABLE metadata ADD COLUMN taken_at_offset_source TEXT;
    """,
    """
    -- The places phase: where a geotagged file was taken (GeoNames place, region, country,
    -- IANA zone), and its capture time where the zone at that place knows it better than
    -- the file (no offset recorded, or a video's UTC-only time): those four columns share
    -- the metadata table's names, and the export shows them in place of its values.
    CREATE TABLE places (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        place_city TEXT,
        place_region TEXT,
        place_country TEXT,
        place_country_code TEXT,
        place_distance_km REAL,
        timezone TEXT,
        place_note TEXT,
        taken_at TEXT,
        taken_at_offset TEXT,
        taken_at_utc TEXT,
        taken_at_offset_source TEXT
    );
    CREATE INDEX places_by_country ON places (place_country_code);
    """,
    """
    -- RAW+JPEG pairs (pairs.py): each half points at the other; reconcile.py rewrites them
    -- after every walk. A column of files, not a table: a file has at most one sibling, and
    -- the pair is a fact of the folder (which files exist), not of a phase's analysis.
    ALTER TABLE files ADD COLUMN pair_of INTEGER REFERENCES files(id) ON DELETE SET NULL;
    """,
    """
    -- XMP (xmp.py): what people recorded in the photo or its sidecar. rating is NUMERIC so
    -- that 3 stays 3 and 2.5 stays 2.5; keywords is a JSON list. files.sidecar is the
    -- sidecar's signature (sidecars.py): a change of it makes the metadata pending again.
    ALTER TABLE metadata ADD COLUMN rating NUMERIC;
    ALTER TABLE metadata ADD COLUMN label TEXT;
    ALTER TABLE metadata ADD COLUMN keywords TEXT;
    ALTER TABLE metadata ADD COLUMN description TEXT;
    ALTER TABLE metadata ADD COLUMN xmp_source TEXT;
    ALTER TABLE files ADD COLUMN sidecar TEXT NOT NULL DEFAULT '';
    """,
    """
    -- Which decoder made the content phase's pixels (pillow, pillow-heif, ffmpeg-hevc, nvjpeg,
    -- pyav for video frames), and why a faster one was not used where one was tried.
    ALTER TABLE content ADD COLUMN decoder TEXT;
    ALTER TABLE content ADD COLUMN decoder_note TEXT;
    """,
    """
    -- Random weights per model (random_weights.py): one model can have real weights and the
    -- other random ones, and the warnings name only what the random one made (CLIP: scenes,
    -- embeddings, scores; YOLO: objects). ml_random_weights stays: either model's were
    -- random. An existing result takes each model's flag from the weights its run recorded
    -- in its details ("clip ViT-B-32: RANDOM weights (configured: random)"); where that run
    -- recorded none, both models are taken as random, the old flag's meaning.
    ALTER TABLE ml ADD COLUMN clip_random_weights INTEGER;
    ALTER TABLE ml ADD COLUMN yolo_random_weights INTEGER;
    UPDATE ml SET clip_random_weights = ml_random_weights, yolo_random_weights = ml_random_weights
        WHERE ml_random_weights IS NOT NULL;
    UPDATE ml SET
        clip_random_weights = COALESCE((
            SELECT instr(json_extract(r.details, '$.weights.clip'), ': RANDOM weights') > 0
            FROM phase_status p JOIN run_phases r ON r.run_id = p.run_id AND r.phase = 'ml'
            WHERE p.file_id = ml.file_id AND p.phase = 'ml' AND json_valid(r.details)
        ), 1),
        yolo_random_weights = COALESCE((
            SELECT instr(json_extract(r.details, '$.weights.yolo'), ': RANDOM weights') > 0
            FROM phase_status p JOIN run_phases r ON r.run_id = p.run_id AND r.phase = 'ml'
            WHERE p.file_id = ml.file_id AND p.phase = 'ml' AND json_valid(r.details)
        ), 1)
        WHERE ml_random_weights = 1;
    """,
    """
    -- The tag taken_at was read from (exif.CAPTURE_TIME_ORDER: exif:DateTimeOriginal,
    -- xmp:photoshop:DateCreated, ...; a video's quicktime:creationdate or creation_time).
    -- Left NULL here: metadata-5 reads every file again and fills it in. The places phase
    -- changes a time's offset, never its tag, so its table has no such column.
    ALTER TABLE metadata ADD COLUMN taken_at_source TEXT;
    """,
    """
    -- Runs in a row in which a phase failed on a file for a reason that was not plainly the
    -- file's (out of memory, an I/O error while reading it), with the phase version that
    -- failed. Such a failure leaves the file pending; after results.MAX_TRIES runs in a row
    -- on the unchanged file it becomes the file's final error. A result, a final error or a
    -- change of the file ends the count (the row goes).
    CREATE TABLE retries (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        phase TEXT NOT NULL,
        version TEXT NOT NULL,
        tries INTEGER NOT NULL,
        PRIMARY KEY (file_id, phase)
    ) WITHOUT ROWID;
    """,
    """
    -- Names people already gave, read by the metadata phase from XMP (mwg_regions.py): MWG
    -- face regions as boxes on the upright picture (top-left origin, fractions of its width
    -- and height), name NULL for an unnamed face; and per file the Iptc4xmpExt:PersonInImage
    -- names (a JSON list) and why regions were not kept. Both are replaced with each
    -- metadata result, and read only where that result is current (regions.py).
    CREATE TABLE mwg_regions (
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        region INTEGER NOT NULL,
        name TEXT,
        x REAL NOT NULL,
        y REAL NOT NULL,
        w REAL NOT NULL,
        h REAL NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (file_id, region)
    ) WITHOUT ROWID;
    CREATE TABLE xmp_people (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        people_in_image TEXT,
        people_source TEXT,
        regions_note TEXT
    );
    """,
    """
    -- The faces phase (docs/people.md). face_scans is its per-file result: how many faces it
    -- kept (0: analyzed, none found). faces holds one row per face, replaced whenever the
    -- phase runs on the file again; boxes and landmarks are normalized to the upright
    -- picture (0..1, top-left origin), the embedding is 128 little-endian float32.
    CREATE TABLE face_scans (
        file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
        face_count INTEGER
    );
    -- Persons outlive face rows: their ids, names and the user's decisions stand through
    -- every re-analysis (a changed file, a --full run), held by person_anchors (the
    -- embeddings of the faces a person was given, which bring the same faces back to it)
    -- and person_rejections (faces a person must never take again).
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        name TEXT,
        created_run INTEGER
    );
    CREATE TABLE person_anchors (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        embedding BLOB NOT NULL,
        assigned TEXT NOT NULL
    );
    CREATE INDEX person_anchors_by_person ON person_anchors (person_id);
    CREATE TABLE person_rejections (
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        embedding BLOB NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        frame INTEGER,
        x REAL NOT NULL,
        y REAL NOT NULL,
        w REAL NOT NULL,
        h REAL NOT NULL,
        landmarks TEXT,
        score REAL,
        size_px INTEGER,
        sharpness REAL,
        embedding BLOB NOT NULL,
        person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
        anchor_id INTEGER REFERENCES person_anchors(id) ON DELETE SET NULL,
        assigned TEXT
    );
    CREATE INDEX faces_by_file ON faces (file_id);
    CREATE INDEX faces_by_person ON faces (person_id);
    """,
    text_migration,
    # Present files per kind, which every search counts (its "not embedded yet" note):
    # read from this index alone, 7 ms instead of 22 at 100,000 files.
    """
    CREATE INDEX files_present_by_kind ON files (missing, kind);
    """,
    # The scene labels a catalog holds, which `--scene` is checked against: read from this
    # index, not by reading every ML row with its embedding (70 ms at 100,000 photos).
    """
    CREATE INDEX ml_by_top_scene ON ml (top_scene);
    """,
    # The few rows that hold an error, by phase: search's note on files the ML phase failed
    # on reads them here (0.3 ms at 100,000 files, against 55 ms looking at every file).
    """
    CREATE INDEX status_errors ON phase_status (phase, file_id) WHERE error IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Which table holds each phase's fields (keyed by file_id), in export order; the table's
# columns are the fields. A column that a later phase's table shares with an earlier one's
# holds the later phase's better value of that field: the export shows it where there is
# one, else the earlier phase's (the places phase's capture time from the GPS zone, else the
# file's own). Such a table is read only where its result describes the file as it is now,
# so a stale value never hides a fresh reading.
RESULT_TABLES = {
    "metadata": "metadata",
    "places": "places",
    "content": "content",
    "faces": "face_scans",
    "ml": "ml",
    "text": "text",
}
# A phase's stored result describes the file as it is now: the phase finished on it without
# an error since it last changed (a change deletes the file's phase status).
CURRENT_RESULT = (
    "EXISTS (SELECT 1 FROM phase_status p WHERE p.file_id = {file} AND p.phase = '{phase}'"
    " AND p.version != '' AND p.error IS NULL)"
)
# The metadata phase stores what it could read beside a final error (a JPEG whose EXIF is
# broken still has its type and size): its row describes the file as it is now once the
# phase finished on the file since it last changed, with an error or without.
_FINISHED_RESULT = (
    "EXISTS (SELECT 1 FROM phase_status p WHERE p.file_id = {file} AND p.phase = '{phase}'"
    " AND p.version != '')"
)


def failed_for_good(status: str = "s") -> str:
    """The SQL condition under which the phase status row `status` (its table's alias) is a
    final error: the file could not be read, and `status` counts it failed. An error stored
    under no version was not the file's fault and is tried again. Its `error IS NOT NULL`
    lets SQLite read the rows through the index of errors (status_errors)."""
    return f"{status}.error IS NOT NULL AND {status}.version != ''"


def result_is_current(phase: str, file: str = "f.id") -> str:
    """The SQL condition under which a phase's stored row for `file` may be read: it
    describes the file as it is now. Every reader joins a result table only under it, so a
    file overwritten with another picture, whose phases have not run again yet (only the
    metadata phase ran, or the content phase was interrupted), never shows, matches or
    groups by what the old picture was."""
    template = _FINISHED_RESULT if phase == "metadata" else CURRENT_RESULT
    return template.format(phase=phase, file=file)


# The capture time every reader shows, filters and counts by (docs/fields.md: `taken_at`):
# the places phase's local time where it derived one (a video with only a UTC creation
# time, at its GPS position), else the file's own. `p` and `m` are the places and metadata
# rows, each joined only where current.
TAKEN_AT = "COALESCE(p.taken_at, m.taken_at)"
# Columns stored as JSON text and as 0/1, given back as lists and booleans.
JSON_COLUMNS = frozenset(
    {"dominant_colors", "scenes", "objects", "object_counts", "keywords", "text"}
)
BOOL_COLUMNS = frozenset(
    {
        "blurry",
        "underexposed",
        "overexposed",
        "ml_random_weights",
        "clip_random_weights",
        "yolo_random_weights",
        "has_audio",
        "screenshot",
    }
)
# Stored but not exported: 512 float16 values a photo are for search, not for a CSV.
HIDDEN_COLUMNS = frozenset({"embedding"})


# Paths are stored as the file name's bytes, in the TEXT column (no migration: every name that
# is valid UTF-8 is stored exactly as before). A name that is not valid UTF-8 (PEP 383 text,
# pathnames.py) keeps its bytes: SQLite does not check TEXT for valid UTF-8, compares it byte
# by byte (so `path = ?`, the `path >= 'dir/' AND path < 'dir0'` ranges, LIKE prefixes and
# ORDER BY keep working), and reading decodes with surrogateescape, which gives back the
# very text os.fsdecode gave the scan. Python's driver binds str as strict UTF-8, so such a
# path is bound as bytes through `path_param` and turned into TEXT in the statement by PATH.
# The default text factory would raise on them; this one is C code (0.3 µs a value).
_TEXT_FACTORY = operator.methodcaller("decode", "utf-8", "surrogateescape")
PATH = "CAST(? AS TEXT)"


def path_param(path: str) -> str | bytes:
    """A path as a query parameter, for a PATH placeholder: the text itself, or its bytes
    where it is not valid UTF-8."""
    return path.encode("utf-8", "surrogateescape") if undecodable(path) else path


def connect(path: Path, create: bool) -> sqlite3.Connection:
    """The catalog at `path` at SCHEMA_VERSION. create=True is `run`'s connection: it creates a
    missing file and migrates an older one. create=False is a reading command's: a missing
    file is an error (a mistyped --db never makes a new catalog), the file is opened read-only
    and never migrated (an older one is refused with the fix), so a reading command never
    writes to a catalog, works on a read-only copy, and never races a run to migrate."""
    if not create and not path.is_file():
        raise CatalogError(f"no catalog at {path}: run `photoanalyze run FOLDER` first")
    try:
        db = _open_writable(path) if create else _open_read_only(path)
        db.text_factory = _TEXT_FACTORY
        # SQLite's lower() and LIKE fold ASCII letters only: place names are not ASCII.
        db.create_function("casefold", 1, _casefold, deterministic=True)
        if create:
            _migrate(db, path)
        else:
            _check_version(schema_version(db), path)
    except (OSError, sqlite3.Error) as exc:
        if not create:
            raise CatalogError(f"cannot read the catalog {path}: {exc}") from exc
        raise CatalogError(
            f"cannot open the catalog {path}: {exc}; choose a writable location with"
            " --db or PHOTOANALYZER_DB"
        ) from exc
    return db


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _open_writable(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL keeps this crash-safe
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _open_read_only(path: Path) -> sqlite3.Connection:
    """mode=ro never creates or writes the file. A WAL catalog is read through its -shm
    index, which SQLite cannot create in a read-only folder (a backup disk, a copy on a
    read-only mount): there, with no write-ahead log beside it (so nothing committed lives
    outside the file), the file is read as immutable, which needs no index."""
    uri = path.absolute().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=30)
    try:
        schema_version(db)  # the first read is where a missing index shows
        return db
    except sqlite3.OperationalError:
        db.close()
        wal = path.with_name(path.name + "-wal")
        if os.access(path.parent, os.W_OK) or (wal.exists() and wal.stat().st_size > 0):
            raise
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)


def _check_version(current: int, path: Path) -> None:
    """A reading command's check: it reads only a catalog of this program's version."""
    _refuse_newer(current, path)
    if current < SCHEMA_VERSION:
        raise CatalogError(
            f"the catalog {path} has schema version {current}, older than this program's "
            f"({SCHEMA_VERSION}); run `photoanalyze run` once to upgrade it (reading "
            "commands never write to the catalog)"
        )


def _refuse_newer(current: int, path: Path) -> None:
    if current > SCHEMA_VERSION:
        raise CatalogError(
            f"the catalog {path} has schema version {current}, newer than this "
            f"program knows ({SCHEMA_VERSION}); upgrade photoanalyzer"
        )


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the catalog to SCHEMA_VERSION. The version is read again inside a write
    transaction (BEGIN IMMEDIATE): two processes opening an older catalog at once (a cron
    run, a benchmark) take turns, and the second finds the first one's version instead of
    applying the same migrations again ("duplicate column name")."""
    current = schema_version(db)
    _refuse_newer(current, path)
    if current == SCHEMA_VERSION:
        return  # versions only grow: a current catalog needs no lock
    with transaction(db):
        current = schema_version(db)
        _refuse_newer(current, path)
        # All pending migrations in one transaction: a catalog is always at some whole
        # version, and the version is read and set under the same lock.
        for number in range(current + 1, SCHEMA_VERSION + 1):
            script = MIGRATIONS[number - 1]
            for statement in _statements(script if isinstance(script, str) else script(db)):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script, one by one. executescript would commit the
    open transaction first (Python 3.11), giving up the lock the version was read under;
    sqlite3.complete_statement knows where a statement ends (a ';' in a comment or inside a
    trigger's BEGIN ... END does not)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip() != ";":  # the whitespace after a script's last statement
                yield pending
            pending = ""


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def table_columns(db: sqlite3.Connection, table: str) -> list[str]:
    """The table's columns, file_id (the key every result table shares) left out."""
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})") if row[1] != "file_id"]


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def to_sql(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and value is not None:
        return json.dumps(value)
    if isinstance(value, str):
        return message_text(value)
    return value


def message_text(text: str | None) -> str | None:
    """A message or note for a person (an error that names a file whose name is not valid
    UTF-8): stored readable, since only paths need their exact bytes."""
    return None if text is None else readable(text)


def from_sql(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.loads(value)
    if column in BOOL_COLUMNS:
        return bool(value)
    return value


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
