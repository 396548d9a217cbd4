"""exiftool, the reference the XMP tests compare with: run it, read a file's XMP as it sees
it, and the region list the face-region tests write with it. Each call goes through
requirements.require_binary, so a machine without exiftool skips (fails under CI)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.requirements import require_binary

# An MWG region list with two named faces, in exiftool's struct syntax (-RegionInfo=...).
TWO_FACES = (
    "{AppliedToDimensions={W=400,H=300,Unit=pixel},RegionList=["
    "{Area={W=0.1,H=0.2,X=0.25,Y=0.3,Unit=normalized},Name=Anna,Type=Face},"
    "{Area={W=0.15,H=0.25,X=0.7,Y=0.55,Unit=normalized},Name=Ben,Type=Face}]}"
)


def exiftool(*args: str) -> str:
    """exiftool's standard output for `args` (quiet; a failure raises)."""
    done = subprocess.run(
        [require_binary("exiftool"), "-q", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def exiftool_xmp(path: Path) -> dict:
    """exiftool's full reading of the XMP of a file, every group and duplicate (-a -G1),
    structures as structures, numbers as numbers."""
    read = json.loads(exiftool("-j", "-G1", "-a", "-struct", "-n", str(path)))[0]
    return {k: v for k, v in read.items() if k.startswith("XMP-")}
