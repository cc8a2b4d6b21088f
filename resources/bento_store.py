"""BentoML's model and bento store in one folder, with the verbs packaging and serving use.

Nothing here sets `BENTOML_HOME` for the process: in-process reads open the stores on
`home` explicitly, and `bentoml build` / `bentoml serve` run as subprocesses that get it in
their own environment. Two resources with different homes can live in one process, and a
build imports the service fresh each time (the service reads its model at import).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from dagster import ConfigurableResource
from pydantic import Field

from ml_assets.lib.archives import extract_tar

if TYPE_CHECKING:
    from bentoml._internal.bento.bento import BentoStore
    from bentoml._internal.models.model import ModelStore

    from ml_assets.lib.scoring import Scorer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BENTOFILE = PROJECT_ROOT / "bentos" / "bentofile.yaml"
# The bento argument that names the served model (see bentos/service.py).
MODEL_ARGUMENT = "model"
BUILD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class StoredBento:
    """A bento in the store: its tag, folder, generated Dockerfile and the model it serves."""

    tag: str
    path: Path
    dockerfile: Path
    model_tag: str


class BentoStoreResource(ConfigurableResource):
    """BentoML's store of models (serving bundles) and bentos, kept in the folder `home`.

    Imports a serving bundle as a BentoML model, builds the champion service's bento around
    it with `bentoml build` (the bento names its model as a build argument) and gives the
    command that serves a bento. The folder must lie outside the project, or the build's
    include patterns could sweep the store into a bento.
    """

    home: str = Field(description="BentoML home folder (its `models/` and `bentos/` stores).")

    def bundle_path(self, model_tag: str) -> Path:
        """The folder of a stored model: the serving bundle it was imported from."""
        import bentoml

        return Path(bentoml.models.get(model_tag, _model_store=self._model_store()).path)

    def scorer(self, model_tag: str) -> Scorer:
        """The Scorer of a stored serving bundle, as the service builds it; cached, since a
        model tag names one immutable bundle (its version carries the content hash)."""
        return _cached_scorer(str(self.bundle_path(model_tag)))

    def has_model(self, tag: str) -> bool:
        import bentoml

        try:
            bentoml.models.get(tag, _model_store=self._model_store())
        except bentoml.exceptions.NotFound:
            return False
        return True

    def import_bundle(self, tag: str, folder: Path, labels: Mapping[str, str]) -> Path:
        """Create the BentoML model `tag` from a serving bundle folder, unless it exists.

        The tag is the model's identity (its version carries the content hash), so an
        existing model of that tag is kept as it is. Returns the stored model's folder.
        """
        import bentoml

        if not self.has_model(tag):
            with bentoml.models.create(
                tag, labels=dict(labels), _model_store=self._model_store()
            ) as model:
                shutil.copytree(folder, model.path, dirs_exist_ok=True)
        return self.bundle_path(tag)

    def find_bento(self, tag: str) -> StoredBento | None:
        import bentoml

        try:
            bento = bentoml.bentos.get(tag, _bento_store=self._bento_store())
        except bentoml.exceptions.NotFound:
            return None
        return _stored(bento)

    def build(
        self,
        model_tag: str,
        bento_version: str,
        labels: Mapping[str, str],
        description: str,
        arguments: Mapping[str, str] | None = None,
        service: str | None = None,
    ) -> StoredBento:
        """Build the champion service's bento for model `model_tag` with `bentoml build`.

        The bento is named after the service (the bundle's pipeline) and versioned
        `bento_version`; building a tag that exists fails, so look it up with `find_bento`
        first. Runs from the project root with `bentos/bentofile.yaml`, offline (the image
        pins exact versions and does not lock). `arguments` are more bento arguments (an
        experiment's challenger and mode, see bentos/experiment_setup.py); `service` another
        service of bentos/ than the champion service (`bentos.text_service:TextService`).
        """
        if not self.has_model(model_tag):
            raise LookupError(
                f"no BentoML model {model_tag!r} in {self.home}: import its bundle first"
            )
        with tempfile.TemporaryDirectory(prefix="bentofile-") as scratch:
            # `bentoml build` has no --description; the bentofile can say it.
            bentofile = Path(scratch) / "bentofile.yaml"
            config = yaml.safe_load(BENTOFILE.read_text())
            config = {**config, "description": description}
            if service is not None:  # another service of bentos/ (the text service)
                config["service"] = service
            bentofile.write_text(yaml.safe_dump(config))
            argv = [
                *_bentoml(),
                "build",
                "-f",
                str(bentofile),
                "--arg",
                f"{MODEL_ARGUMENT}={model_tag}",
                *(arg for k, v in (arguments or {}).items() for arg in ("--arg", f"{k}={v}")),
                "--version",
                bento_version,
                *(arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")),
                "--output",
                "tag",
                str(PROJECT_ROOT),
            ]
            done = subprocess.run(
                argv,
                cwd=PROJECT_ROOT,
                env=self._child_env(pythonpath=PROJECT_ROOT),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
                check=False,
            )
        if done.returncode != 0:
            raise RuntimeError(
                f"bentoml build of model {model_tag!r} failed ({done.returncode}):\n"
                f"{(done.stdout + done.stderr)[-4000:]}"
            )
        tag = _built_tag(done.stdout)
        bento = self.find_bento(tag)
        if bento is None:
            raise RuntimeError(f"bentoml build reported {tag!r}, but {self.home} has no such bento")
        return bento

    def export(self, tag: str, folder: Path) -> Path:
        """Copy bento `tag` into `folder` with the models it serves in its `models/` store
        (a stored bento only references them), as `bentoml export` does for moving a bento;
        `folder` must not exist. Returns `folder`."""
        with tempfile.TemporaryDirectory(prefix="bento-export-") as scratch:
            archive = Path(scratch) / "bento.tar.gz"
            done = subprocess.run(
                [*_bentoml(), "export", tag, str(archive)],
                env=self._child_env(),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_SECONDS,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(
                    f"bentoml export of {tag!r} failed ({done.returncode}):\n"
                    f"{(done.stdout + done.stderr)[-4000:]}"
                )
            folder.mkdir(parents=True)
            extract_tar(archive, folder)
        return folder

    def serve_command(
        self, bento_tag: str, host: str = "127.0.0.1", port: int = 3000
    ) -> tuple[list[str], dict[str, str]]:
        """`bentoml serve <bento_tag>` and the environment to run it in: this process's,
        with this store's home and BentoML's telemetry off. The bento brings its own
        source and names its model, so the working folder does not matter."""
        argv = [*_bentoml(), "serve", bento_tag, "--host", host, "--port", str(port)]
        return argv, self._child_env()

    def _child_env(self, pythonpath: Path | None = None) -> dict[str, str]:
        env = {**os.environ, "BENTOML_HOME": self.home, "BENTOML_DO_NOT_TRACK": "true"}
        if pythonpath is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(pythonpath), os.environ.get("PYTHONPATH", "")) if p
            )
        return env

    # BentoML's public functions take a store (`_model_store=`, `_bento_store=`) but offer
    # no public way to open one on a given folder: without these internal classes the only
    # choice is the process-wide BENTOML_HOME, which is what this module exists to avoid.
    # Every `bentoml._internal` import of the platform stays in this module.
    def _model_store(self) -> ModelStore:
        from bentoml._internal.models.model import ModelStore

        folder = Path(self.home) / "models"
        folder.mkdir(parents=True, exist_ok=True)
        return ModelStore(folder)

    def _bento_store(self) -> BentoStore:
        from bentoml._internal.bento.bento import BentoStore

        folder = Path(self.home) / "bentos"
        folder.mkdir(parents=True, exist_ok=True)
        return BentoStore(folder)


def _bentoml() -> list[str]:
    """The `bentoml` CLI of this interpreter's environment."""
    return [sys.executable, "-m", "bentoml"]


def _built_tag(stdout: str) -> str:
    # `--output tag` prints `__tag__:<name>:<version>` as its last line.
    for line in reversed(stdout.splitlines()):
        if line.startswith("__tag__:"):
            return line.removeprefix("__tag__:").strip()
    raise RuntimeError(f"bentoml build printed no bento tag:\n{stdout[-2000:]}")


def _stored(bento: Any) -> StoredBento:
    path = Path(bento.path)
    return StoredBento(
        tag=str(bento.tag),
        path=path,
        dockerfile=path / "env" / "docker" / "Dockerfile",
        model_tag=str(bento.info.args.get(MODEL_ARGUMENT, "")),
    )


@functools.lru_cache(maxsize=4)
def _cached_scorer(bundle: str) -> Scorer:
    from ml_assets.lib.scoring import Scorer

    return Scorer.from_bundle(Path(bundle))
