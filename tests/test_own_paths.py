"""A catalog kept inside the library it indexes: its thumbnails, search matrix, reports and
lock are never indexed as photos (ownpaths.py), whichever catalog made them."""

from __future__ import annotations

import json
from pathlib import Path

from photoanalyzer.catalog import Catalog
from photoanalyzer.catalog.files import FileFacts, SyncChanges, SyncCounts
from photoanalyzer.config import load_config
from photoanalyzer.library.ownpaths import CACHE_TAG, REPORT_MARKER, own_paths
from photoanalyzer.library.scan import scan
from support.imagegen import write_photo

NO_ML = ("--phases", "metadata,content")


def library_of(root: Path, n: int = 4) -> Path:
    for i in range(n):
        write_photo(root / f"p{i}.jpg", size=(120, 90), seed=i)
    return root


def test_three_runs_of_a_library_holding_its_catalog_see_the_same_files(cli, tmp_path):
    library = library_of(tmp_path / "lib")
    write_photo(library / "sub" / "deep.jpg", size=(120, 90), seed=9)
    db = library / "pa.db"
    counts = []
    for step in range(3):
        out = cli("run", str(library), "--db", str(db), *NO_ML).stdout
        counts.append(out.split(" files in ")[0])
        if step == 2:
            break
        # Between runs, everything else that writes beside the catalog or into the library.
        cli("report", "--db", str(db), "--portable")
        cli("report", "--db", str(db), "--portable", "--out", str(library / "sub" / f"r{step}"))
        cli("search", "--db", str(db), "-f")
    assert counts == ["Scanned 5"] * 3
    assert list((library / "pa.db-thumbnails").rglob("*.jpg"))  # there to be found
    assert list((library / "pa.db-report" / "thumbs").rglob("*.jpg"))
    exported = cli.export(db)
    assert sorted(Path(p).relative_to(library).as_posix() for p in exported) == [
        "p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg", "sub/deep.jpg",
    ]  # fmt: skip
    status = json.loads(cli("status", "--db", str(db), "--json").stdout)
    assert status["files"]["photo"] == {"present": 5, "missing": 0}


def test_own_paths_name_every_file_and_folder_written_for_a_catalog(tmp_path):
    db = tmp_path / "lib" / "pa.db"
    paths = {p.relative_to(tmp_path / "lib").as_posix() for p in own_paths(db, load_config())
             if p.is_relative_to(tmp_path / "lib")}  # fmt: skip
    assert paths == {
        "pa.db", "pa.db-wal", "pa.db-shm", "pa.db-journal", "pa.db.lock", "pa.db-search",
        "pa.db-thumbnails",
        "pa-search", "pa-thumbnails",  # their names before issue 24, an old catalog's
    }  # fmt: skip


def test_the_walk_leaves_out_tagged_and_marked_folders_and_own_paths_by_identity(tmp_path):
    library = library_of(tmp_path / "lib", 1)
    cache = library_of(library / "someones-cache", 2)
    (cache / CACHE_TAG).write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55\n")
    not_a_cache = library_of(library / "fake-tag", 2)
    (not_a_cache / CACHE_TAG).write_text("not the signature\n")
    report = library_of(library / "old-report", 2)
    (report / REPORT_MARKER).write_text("")
    thumbs = library_of(library / "thumbs", 2)
    (library / "link-to-thumbs").symlink_to(thumbs)  # another spelling of an own folder
    config = load_config().scan
    walk = scan([str(library)], config, own=[thumbs])
    found = sorted(Path(f.path).relative_to(library).as_posix() for f in walk.files)
    assert found == ["fake-tag/p0.jpg", "fake-tag/p1.jpg", "p0.jpg"]
    own = sorted(Path(p).name for p in walk.own)
    assert own == ["link-to-thumbs", "old-report", "someones-cache", "thumbs"]


def test_another_catalogs_thumbnails_inside_the_library_are_left_out(cli, tmp_path):
    library = library_of(tmp_path / "lib", 3)
    cli("run", str(library), "--db", str(library / "a.db"), *NO_ML)
    assert (library / "a.db-thumbnails" / CACHE_TAG).is_file()
    out = cli("run", str(library), "--db", str(tmp_path / "b.db"), *NO_ML).stdout
    assert out.startswith("Scanned 3 files"), out


def test_own_files_an_older_version_indexed_are_forgotten(cli, tmp_path):
    library = library_of(tmp_path / "lib", 2)
    db = library / "pa.db"
    thumbs = library / "pa-thumbnails"
    names = ("aa/1.jpg", "bb/2.jpg", "cc/gone.jpg")
    for name in names[:2]:
        write_photo(thumbs / name, size=(60, 45))
    # As an older version left the catalog: its thumbnails indexed as photos.
    catalog = Catalog(db)
    run_id = catalog.runs.start([str(library)], ["metadata"])
    facts = [FileFacts(str(thumbs / name), 1, 1, "photo") for name in names]
    changes = SyncChanges(SyncCounts(3, 3, 0, 0), new=[(f, None) for f in facts])
    catalog.files.apply_sync(run_id, changes, 0.0)
    catalog.close()
    out = cli("run", str(library), "--db", str(db), *NO_ML).stdout
    assert out.startswith("Scanned 2 files") and "forgot 3 files in the catalog's own" in out
    status = json.loads(cli("status", "--db", str(db), "--json").stdout)
    assert status["files"]["photo"] == {"present": 2, "missing": 0}
    assert "forgot" not in cli("run", str(library), "--db", str(db), *NO_ML).stdout
