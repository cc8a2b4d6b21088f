"""The audit store: hash-chained decision logs and champion passports, per pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field


class AuditStoreResource(ConfigurableResource):
    """Where the audit trail lives: one JSON Lines decision log per pipeline (each entry
    chained to the previous one by hash) and one JSON passport per champion version."""

    root: str = Field(description="Folder of the decision logs and passports.")

    def decision_log(self, pipeline: str) -> Path:
        return Path(self.root) / "decisions" / f"{pipeline}.jsonl"

    def passports(self, pipeline: str) -> Path:
        return Path(self.root) / "passports" / pipeline

    def passport_path(self, pipeline: str, version: str) -> Path:
        return self.passports(pipeline) / f"v{version}.json"

    def write_passport(self, pipeline: str, version: str, passport: dict[str, Any]) -> Path:
        """Written through a temporary file and renamed: never a half-written passport."""
        path = self.passport_path(pipeline, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(passport, indent=2, default=str))
        temporary.replace(path)
        return path

    def read_passport(self, pipeline: str, version: str) -> dict[str, Any]:
        """A stored passport; FileNotFoundError listing the versions that have one."""
        path = self.passport_path(pipeline, version)
        if not path.is_file():
            have = sorted(p.stem for p in self.passports(pipeline).glob("v*.json"))
            raise FileNotFoundError(
                f"no passport for {pipeline} version {version} "
                f"(passports: {', '.join(have) or 'none'})"
            )
        data: dict[str, Any] = json.loads(path.read_text())
        return data
