"""Unpacking an archive the platform did not write byte by byte (a `bentoml export`), so
that no member lands outside the target folder.

Python 3.11 before 3.11.4 (Debian 12's 3.11.2 among them) has no extraction filters
(`extractall(filter="data")`): every member is checked here first, and the filter is added
where the interpreter has it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path


def extract_tar(archive: Path, folder: Path) -> None:
    """Extract `archive` into `folder`; ValueError naming the first member that would
    escape it (an absolute or `..` path, a link pointing out) or is a device or a fifo."""
    root = folder.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            _check(member, root)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, members=members, filter="data")
        else:  # checked above
            tar.extractall(folder, members=members)


def _check(member: tarfile.TarInfo, root: Path) -> None:
    target = (root / member.name).resolve()
    if not target.is_relative_to(root):
        raise ValueError(f"archive member {member.name!r} would land outside {root}")
    if member.isdev() or member.isfifo():
        raise ValueError(f"archive member {member.name!r} is a device or a fifo")
    if member.issym():
        pointed = (target.parent / member.linkname).resolve()
    elif member.islnk():
        pointed = (root / member.linkname).resolve()
    else:
        return
    if not pointed.is_relative_to(root):
        raise ValueError(f"archive member {member.name!r} links outside {root}")
