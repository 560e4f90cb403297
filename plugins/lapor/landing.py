"""The landing zone: every file received, kept byte for byte, named by its checksum.

`LAPOR_HOME/landing/<agency>/<kind>/<file_day>/<sha256>-<original name>`. The loader reads
the landed copy, so what was loaded is exactly what was kept.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lapor.readers.limits import Limits
from lapor.readers.model import FileRejected
from lapor.sources import SourceFile
from lapor.sources.folder import refusal

CHUNK = 1 << 20


@dataclass(frozen=True)
class LandedFile:
    source: SourceFile
    sha256: str
    size_bytes: int
    path: Path          # the kept copy
    relpath: str        # relative to the landing folder


def open_regular(source: SourceFile, limits: Limits) -> int:
    """A descriptor of the source file, opened without following a link and checked to be a
    regular file within the size limit; else `FileRejected` (the file was not read)."""
    if source.refused:
        raise FileRejected(*source.refused)
    try:
        fd = os.open(source.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a link since the folder was listed
            raise FileRejected(*refusal(stat.S_IFLNK, source.relpath)) from None
        raise FileRejected("unreadable_file", f"{source.relpath} cannot be opened: {exc.strerror}.") from None
    info = os.fstat(fd)
    refused = refusal(info.st_mode, source.relpath)
    if refused is None and info.st_size > limits.max_file_bytes:
        refused = ("file_too_large", f"The file has {info.st_size / (1 << 20):,.1f} MB; the limit "
                                     f"(LAPOR_MAX_FILE_MB) is {limits.max_file_mb:,} MB. It stays in the drop "
                                     "folder and was not copied or read.")
    if refused is not None:
        os.close(fd)
        raise FileRejected(*refused)
    os.set_blocking(fd, True)
    return fd


NAME_MAX = 255  # bytes of one file name, on the file systems the landing zone lives on


def _kept_name(sha: str, name: str) -> str:
    """`<sha256>-<original name>`, cut to NAME_MAX bytes: a drop-folder name near the limit
    (a 240-letter extension) made landing fail on "File name too long". An extension of at
    most 16 bytes is kept, so the reader still knows the file's kind."""
    room = NAME_MAX - len(sha) - 1
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return f"{sha}-{name}"
    suffix = Path(name).suffix
    suffix = suffix if len(suffix.encode("utf-8", "surrogateescape")) <= 16 else ""
    head = raw[:room - len(suffix.encode("utf-8", "surrogateescape"))].decode("utf-8", "ignore")
    return f"{sha}-{head}{suffix}"


def land(source: SourceFile, landing_dir: Path, limits: Limits | None = None) -> LandedFile:
    """Copy the file into the landing zone (streaming), unless the same bytes are there already.

    Raises `FileRejected` for a file that must not be read (a link, not a regular file, over
    LAPOR_MAX_FILE_MB): nothing of it is copied."""
    limits = limits or Limits.from_env()
    src_fd = open_regular(source, limits)
    folder = landing_dir / source.agency_code / source.kind / source.file_day.isoformat()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except BaseException:
        os.close(src_fd)
        raise
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out, os.fdopen(src_fd, "rb") as src:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        target = folder / _kept_name(sha, source.path.name)  # listed from a folder: no "/"
        if target.exists():
            os.unlink(tmp_name)
        else:
            os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return LandedFile(source, sha, size, target, target.relative_to(landing_dir).as_posix())
