"""The build context of a champion's serving image, for podman, buildah or docker.

`write_context` lays out what `bentos/Dockerfile` builds from: the bento with its models
inside, and the exact version of every package of the environment that writes it (the
platform's locked one) as constraints, so the container scores with the libraries the
platform trained and scored with, not with whatever an index offers on the build day.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resources.bento_store import BentoStoreResource

DOCKERFILE = Path(__file__).resolve().parents[1] / "bentos" / "Dockerfile"
# Never installed in a serving image: XGBoost's NCCL (multi-GPU training only, ~480 MB).
# A marker that never holds is how uv drops a dependency through an override.
DROPPED_PACKAGES = ("nvidia-nccl-cu12",)


def constraints() -> str:
    """`name==version` of every distribution installed in this environment that an index
    can serve: local, editable and VCS installs (the platform itself) are left out."""
    pins = {}
    for dist in importlib.metadata.distributions():
        if dist.read_text("direct_url.json") is not None:
            continue
        name = dist.metadata["Name"]
        if name:
            pins[name.lower()] = f"{name}=={dist.version}"
    return "".join(f"{pins[key]}\n" for key in sorted(pins))


def overrides() -> str:
    return "".join(f'{name} ; sys_platform == "never"\n' for name in DROPPED_PACKAGES)


def write_context(store: BentoStoreResource, bento_tag: str, folder: Path) -> Path:
    """Write the build context of bento `bento_tag`'s image into `folder` (which must not
    exist): `Dockerfile`, `bento/` with its models, `constraints.txt`, `overrides.txt`."""
    folder.mkdir(parents=True)
    store.export(bento_tag, folder / "bento")
    shutil.copyfile(DOCKERFILE, folder / "Dockerfile")
    (folder / "constraints.txt").write_text(constraints())
    (folder / "overrides.txt").write_text(overrides())
    return folder
