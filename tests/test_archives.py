"""Tier 1: unpacking an exported bento never writes outside its folder, on every 3.11."""

import io
import tarfile
from pathlib import Path

import pytest

from ml_assets.lib.archives import extract_tar


def archive(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            data = b"x" * member.size
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def file(name: str) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.size = 1
    return member


def link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    member.linkname = target
    return member


def test_a_bento_shaped_archive_is_extracted(tmp_path: Path) -> None:
    members = [file("bento.yaml"), file("models/m/v1/model.json"), link("latest", "bento.yaml")]
    extract_tar(archive(tmp_path / "a.tar.gz", members), tmp_path / "out")
    assert (tmp_path / "out" / "models" / "m" / "v1" / "model.json").read_bytes() == b"x"
    assert (tmp_path / "out" / "latest").resolve() == (tmp_path / "out" / "bento.yaml")


@pytest.mark.parametrize(
    ("member", "words"),
    [
        (file("../escape.txt"), "would land outside"),
        (file("/etc/escape.txt"), "would land outside"),
        (link("evil", "../../etc/passwd"), "links outside"),
        (link("evil", "/etc/passwd"), "links outside"),
        (link("hard", "../outside", hard=True), "links outside"),
    ],
)
def test_a_member_that_would_escape_is_refused_before_anything_is_written(
    tmp_path: Path, member: tarfile.TarInfo, words: str
) -> None:
    path = archive(tmp_path / "a.tar.gz", [file("first.txt"), member])
    with pytest.raises(ValueError, match=words):
        extract_tar(path, tmp_path / "out")
    assert not (tmp_path / "out" / "first.txt").exists()
    assert not (tmp_path / "escape.txt").exists()
