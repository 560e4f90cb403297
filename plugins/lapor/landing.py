"""The landing zone: every file received, kept byte for byte, named by its checksum.

`LAPOR_HOME/landing/<agency>/<kind>/<file_day>/<sha256>-<original name>`. The loader reads
the landed copy, so what was loaded is exactly what was kept.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lapor.sources import SourceFile

CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    source: SourceFile
    sha256: str
    size_bytes: int
    path: Path          # the kept copy
    relpath: str        # relative to the landing folder


def land(source: SourceFile, landing_dir: Path) -> LandedFile:
    """Copy the file into the landing zone (streaming), unless the same bytes are there already."""
    folder = landing_dir / source.agency_code / source.kind / source.file_day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, open(source.path, "rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        target = folder / f"{sha}-{source.path.name}"
        if target.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return LandedFile(source, sha, size, target, target.relative_to(landing_dir).as_posix())
