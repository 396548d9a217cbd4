"""The folder walk: what counts as a photo or video, what is skipped, and odd trees."""

import os
from pathlib import Path

import pytest

from photoanalyzer.config import load_config
from photoanalyzer.library.scan import scan
from support.imagegen import write_photo

SCAN = load_config().scan


def walk(*roots: Path):
    return scan([str(r) for r in roots], SCAN)


def names(result) -> dict[str, str]:
    return {Path(f.path).name: f.kind for f in result.files}


def test_photos_and_videos_any_case_and_skips(tmp_path: Path):
    for name in [
        "a.jpg",
        "b.JPEG",
        "c.Png",
        "d.tif",
        "e.TIFF",
        "f.heic",
        "g.HEIF",
        "h.avif",
        "i.webp",
        "j.MOV",
        "k.mp4",
        "l.m4v",
        "m.3gp",
        "n.avi",
        "o.mkv",
    ]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "._a.jpg").write_bytes(b"x")  # macOS resource fork
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / ".thumbnails" / "t.jpg").write_bytes(b"x")
    found = names(walk(tmp_path))
    assert {k for k, v in found.items() if v == "video"} == {
        "j.MOV",
        "k.mp4",
        "l.m4v",
        "m.3gp",
        "n.avi",
        "o.mkv",
    }
    assert {k for k, v in found.items() if v == "photo"} == {
        "a.jpg",
        "b.JPEG",
        "c.Png",
        "d.tif",
        "e.TIFF",
        "f.heic",
        "g.HEIF",
        "h.avif",
        "i.webp",
    }


def test_unicode_and_odd_names(tmp_path: Path):
    odd = [
        "café ☕.jpg",
        "日本の写真.jpg",
        "with 'quotes' & \"double\".jpg",
        "new\nline.jpg",
        "  spaces  .jpg",
        "emoji 📷.JPG",
    ]
    folder = tmp_path / "Ordner ü"
    for name in odd:
        write_photo(folder / name)
    result = walk(tmp_path)
    assert sorted(names(result)) == sorted(odd)
    assert all(os.path.exists(f.path) for f in result.files)


def test_file_sizes_and_mtimes_are_recorded(tmp_path: Path):
    path = write_photo(tmp_path / "a.jpg")
    (entry,) = walk(tmp_path).files
    st = path.stat()
    assert (entry.size, entry.mtime_ns, entry.path) == (st.st_size, st.st_mtime_ns, str(path))


def test_symlinks_to_files_are_followed_and_folder_loops_end(tmp_path: Path):
    real = write_photo(tmp_path / "lib" / "real.jpg")
    (tmp_path / "lib" / "link.jpg").symlink_to(real)
    (tmp_path / "lib" / "loop").symlink_to(tmp_path / "lib")  # lib/loop/loop/... forever
    (tmp_path / "lib" / "up").symlink_to(tmp_path)
    result = walk(tmp_path / "lib")
    assert sorted(names(result)) == ["link.jpg", "real.jpg"]
    assert result.problems == []


def test_symlinked_folder_elsewhere_is_walked_once(tmp_path: Path):
    write_photo(tmp_path / "elsewhere" / "x.jpg")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "linked").symlink_to(tmp_path / "elsewhere")
    assert [
        Path(f.path).relative_to(tmp_path).as_posix() for f in walk(tmp_path / "lib").files
    ] == ["lib/linked/x.jpg"]


def test_broken_and_looping_file_links_are_problems_not_crashes(tmp_path: Path):
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "self.jpg").symlink_to(tmp_path / "self.jpg")
    result = walk(tmp_path)
    messages = {Path(p.path).name: p.message for p in result.problems}
    assert "broken symlink" in messages["dangling.jpg"]
    assert "symlink loop" in messages["self.jpg"]
    assert result.files == []


def make_unreadable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod 000 the folder. Root reads it anyway, and tests here run as root, so for root the
    permission check of the OS (a boundary that cannot exist for root) is simulated."""
    folder.chmod(0)
    if os.geteuid() == 0:
        real_scandir = os.scandir

        def scandir(path="."):
            if os.path.abspath(path) == str(folder):
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_folder_is_recorded_and_the_walk_goes_on(tmp_path: Path, monkeypatch):
    write_photo(tmp_path / "ok" / "a.jpg")
    locked = tmp_path / "locked"
    write_photo(locked / "b.jpg")
    make_unreadable(locked, monkeypatch)
    try:
        result = walk(tmp_path)
    finally:
        locked.chmod(0o755)
    assert names(result) == {"a.jpg": "photo"}
    assert [(p.path, p.message) for p in result.problems] == [
        (str(locked), "cannot read folder: Permission denied")
    ]
    assert result.incomplete == [str(locked)]


def test_missing_root_is_a_problem(tmp_path: Path):
    result = walk(tmp_path / "does-not-exist")
    assert result.files == [] and "No such file" in result.problems[0].message
