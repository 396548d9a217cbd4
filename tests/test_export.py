"""The CSV export: one value per cell, nested values as JSON text that parses back."""

import csv
import io
import json

from photoanalyzer.catalog import Catalog, ResultRow
from photoanalyzer.config import load_config
from photoanalyzer.phases.content import ContentPhase
from photoanalyzer.phases.metadata import MetadataPhase
from photoanalyzer.run import pipeline
from support.imagegen import full_spec, textured_photo, write_photo, write_truncated_jpeg

CONFIG = load_config()
NESTED = ("dominant_colors", "scenes", "objects", "object_counts", "errors")
# What the ML phase stores for a photo (its models need weights this machine cannot fetch;
# test_ml_phase.py covers the phase itself): the export only sees these values.
ML_RECORD = {
    "top_scene": "beach",
    "scenes": [["beach", 0.71], ["sea", 0.2]],
    "objects": [{"class": "person", "confidence": 0.91, "box": [1.0, 2.0, 30.5, 40.0]}],
    "object_counts": {"person": 1},
    "ml_random_weights": False,
    "clip_random_weights": False,
    "yolo_random_weights": False,
    "embedding": None,
}


def test_every_nested_csv_value_is_json_that_parses_back(cli, tmp_path):
    library = tmp_path / "lib"
    library.mkdir()
    textured_photo((400, 300)).save(library / "a.jpg")
    write_photo(library / "b.jpg", full_spec())
    write_truncated_jpeg(library / "cut.jpg")
    db = tmp_path / "c.db"
    catalog = Catalog(db)
    content = ContentPhase(CONFIG.content, str(tmp_path / "thumbs"))
    pipeline.run([str(library)], [MetadataPhase(workers=1), content], catalog, CONFIG)
    (a,) = catalog.results.pending("ml", "test", ["photo"], {str(library / "a.jpg")}, False)
    catalog.results.save(0, "ml", "test", [ResultRow(a.file_id, ML_RECORD, None)])
    catalog.close()
    jsonl = cli.export(db)
    table = list(
        csv.DictReader(io.StringIO(cli("export", "--db", str(db), "--format", "csv").stdout))
    )
    assert len(table) == 3
    filled = set()
    for row in table:
        expected = jsonl[row["path"]]
        for name in NESTED:
            if row[name] == "":  # null, or no errors
                assert expected[name] in (None, {}), (row["path"], name)
                continue
            assert json.loads(row[name]) == expected[name], (row["path"], name, row[name])
            filled.add(name)
    assert filled == set(NESTED)  # every nested column was really checked with a value


def test_include_missing_lists_missing_files_with_a_missing_field(cli, tmp_path):
    library = tmp_path / "lib"
    write_photo(library / "kept.jpg", full_spec(model="Kept"))
    write_photo(library / "gone.jpg", full_spec(model="Gone"))
    db = tmp_path / "c.db"
    cli("run", str(library), "--db", str(db), "--phases", "metadata")
    before = cli.export(db)
    (library / "gone.jpg").unlink()
    cli("run", str(library), "--db", str(db), "--phases", "metadata")
    assert cli.export(db) == {str(library / "kept.jpg"): before[str(library / "kept.jpg")]}
    out = cli("export", "--db", str(db), "--include-missing").stdout
    records = {row["path"]: row for row in map(json.loads, out.splitlines())}
    assert records == {
        path: {**row, "missing": path.endswith("gone.jpg")} for path, row in before.items()
    }
    assert list(records[str(library / "gone.jpg")])[:5] == [
        "path", "path_bytes", "kind", "file_size", "missing",
    ]  # fmt: skip
    table = list(
        csv.DictReader(
            io.StringIO(
                cli("export", "--db", str(db), "--format", "csv", "--include-missing").stdout
            )
        )
    )
    assert {row["path"]: row["missing"] for row in table} == {
        str(library / "kept.jpg"): "False",
        str(library / "gone.jpg"): "True",
    }
