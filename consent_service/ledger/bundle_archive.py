"""A bundle as one file: the directory `ledger export` writes, packed as a .tar.gz for the
console's download, and unpacked again by `ledger verify` (no database, no Flask here).

The archive holds exactly the bundle's files under one top folder; unpacking refuses
anything else (links, devices, paths out of the folder), so a hostile archive is a verdict,
not a write outside a temporary directory.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
CHUNK = 64 * 1024


class ArchiveError(Exception):
    """The file is not a bundle archive this service writes."""


def pack(bundle: Path, archive: Path, top: str) -> None:
    """Write `bundle`'s files into `archive` (a .tar.gz on disk, so a big ledger is never held
    in memory) under the folder `top`."""
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(bundle.iterdir()):
            if path.is_file():
                tar.add(path, arcname=f"{top}/{path.name}", recursive=False)


def packed_stream(bundle: Path, top: str) -> Iterator[bytes]:
    """The archive of `bundle`, packed beside it on disk, as chunks. The file is open before
    this returns, so the caller may remove the folder at once (the open file stays readable)
    and nothing is left on disk however the download ends."""
    archive = bundle.with_name(f"{top}.tar.gz")
    pack(bundle, archive, top)
    handle = archive.open("rb")

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    return chunks()


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


@contextmanager
def unpacked(archive: Path) -> Iterator[Path]:
    """The bundle folder inside `archive`, unpacked into a temporary directory removed after."""
    with tempfile.TemporaryDirectory(prefix="ledger-bundle-") as scratch:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()
                if not all(member.isfile() or member.isdir() for member in members):
                    raise ArchiveError("the archive holds links or special files")
                tar.extractall(scratch, members=members, filter="data")
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"not a readable .tar.gz: {exc}") from exc
        root = Path(scratch)
        found = [path.parent for path in root.rglob("manifest.json")]
        if len(found) != 1:
            raise ArchiveError("the archive holds no single bundle (one manifest.json)")
        yield found[0]
