"""Load a pipeline YAML: `extends:` inheritance, `${VAR}` substitution, then validation.

Every failure raises `ConfigError` naming the file, the key path and what was expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .models import CsvConnector, JsonLinesConnector, ParquetConnector, PipelineConfig
from .references import find_reference_problems

FILE_CONNECTORS = (CsvConnector, ParquetConnector, JsonLinesConnector)
_DISCRIMINATORS = ("kind", "op")
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A config file that cannot be used; `problems` lists (key path, message).

    `what` names the kind of config in the message ("pipeline", "alerts").
    """

    def __init__(self, path: Path, problems: list[tuple[str, str]], what: str = "pipeline"):
        self.path = path
        self.problems = problems
        lines = [f"{path}: {key or '<root>'}: {message}" for key, message in problems]
        super().__init__(f"invalid {what} config\n  " + "\n  ".join(lines))


def load_pipeline_config(path: str | Path, env: Mapping[str, str] | None = None) -> PipelineConfig:
    """Read, merge, substitute and validate one pipeline config file."""
    path = Path(path).resolve()
    environ = os.environ if env is None else env
    raw = read_yaml_mapping(path)
    raw = substitute_env(raw, environ, path)
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            path, [describe_validation_error(err, raw) for err in exc.errors()]
        ) from None
    problems = find_reference_problems(config)
    if problems:
        raise ConfigError(path, problems)
    config = _resolve_relative_paths(config, path.parent)
    if config.text is not None and config.text.llm is not None:
        from ml_assets.lib.text.prompts import PromptError, load_prompt, prompt_path

        try:
            load_prompt(prompt_path(config.text.prompts, config.text.llm.prompt))
        except PromptError as exc:
            raise ConfigError(path, [("text.llm.prompt", str(exc))]) from None
    return config


def _resolve_relative_paths(config: PipelineConfig, base: Path) -> PipelineConfig:
    """File connectors' relative paths (and a text pipeline's prompts folder) are relative
    to the config file, not the cwd."""
    sources = {}
    for name, source in config.sources.items():
        connector = source.connector
        if (
            isinstance(connector, FILE_CONNECTORS)
            and "://" not in connector.path
            and not Path(connector.path).is_absolute()
        ):
            resolved = str((base / connector.path).resolve())
            source = source.model_copy(
                update={"connector": connector.model_copy(update={"path": resolved})}
            )
        sources[name] = source
    update: dict[str, object] = {"sources": sources}
    if config.text is not None and not Path(config.text.prompts).is_absolute():
        prompts = str((base / config.text.prompts).resolve())
        update["text"] = config.text.model_copy(update={"prompts": prompts})
    return config.model_copy(update=update)


def config_hash(config: PipelineConfig) -> str:
    """Hash of the resolved config (after extends and substitution), for lineage."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_yaml_mapping(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML file whose top is a mapping, with `extends:` merged in; YAML errors and
    missing files raise `ConfigError` with the line and column."""
    if path in chain:
        cycle = " -> ".join(str(p.name) for p in (*chain, path))
        raise ConfigError(chain[-1], [("extends", f"inheritance cycle: {cycle}")])
    if not path.is_file():
        where = chain[-1] if chain else path
        raise ConfigError(where, [("extends" if chain else "", f"file not found: {path}")])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and (mark is None or start.line != mark.line):
            problem += f" ({context} started at line {start.line + 1})"
        raise ConfigError(path, [("", f"not valid YAML{position}: {problem}")]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [("", f"expected a mapping at the top, got {type(data).__name__}")])
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(path, [("extends", "expected a file name (string)")])
    base = read_yaml_mapping((path.parent / base_name).resolve(), (*chain, path))
    return _deep_merge(base, data)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else (lists included) is replaced, and so is a
    mapping whose `kind` or `op` changes (a csv connector over a package one keeps none of
    the package's keys, which the csv kind would refuse)."""
    merged = dict(base)
    for key, value in override.items():
        if (
            isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and not _changes_kind(merged[key], value)
        ):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _changes_kind(base: dict[str, Any], override: dict[str, Any]) -> bool:
    return any(
        key in override and key in base and override[key] != base[key] for key in _DISCRIMINATORS
    )


def substitute_env(value: Any, env: Mapping[str, str], path: Path, key: str = "") -> Any:
    """`${VAR}` and `${VAR:-default}` replaced in every string of a parsed YAML tree; an
    unset variable without default raises `ConfigError` naming `path` and the key path."""
    if isinstance(value, dict):
        return {
            k: substitute_env(v, env, path, f"{key}.{k}" if key else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute_env(v, env, path, f"{key}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            path, [(key, f"environment variable {name} is not set and has no default")]
        )

    return _ENV_PATTERN.sub(replace, value)


def describe_validation_error(error: Mapping[str, Any], raw: Any) -> tuple[str, str]:
    """One pydantic error as (key path in the file, readable message)."""
    # Discriminated unions put the tag value (`sql`, `ratio`) in the location, which is not
    # a key of the file: walk the input alongside and drop a part that is only a tag there.
    loc: list[str] = []
    node = raw
    for part in error["loc"]:
        if isinstance(node, dict) and part not in node and part in _tags(node):
            continue
        loc.append(str(part))
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif error["type"] == "missing":
        message = "required key is missing"
    elif "input" in error and error["type"] not in {"value_error", "assertion_error"}:
        message = f"{message}; got {error['input']!r}"
    return ".".join(loc), message.removeprefix("Value error, ")


def _tags(node: dict[Any, Any]) -> set[Any]:
    """Values of the discriminator keys of a connector (`kind`) or feature (`op`) mapping."""
    return {node[key] for key in _DISCRIMINATORS if key in node}


@dataclass(frozen=True)
class PipelineFolder:
    """The pipelines of a folder that load, and the error of each file that does not."""

    configs: list[PipelineConfig]
    errors: dict[Path, str]


def pipeline_files(folder: Path) -> list[Path]:
    """Pipeline YAMLs in `folder`; names starting with '_' are bases for `extends:`."""
    return sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("_"))


def load_pipeline_folder(folder: Path) -> PipelineFolder:
    """Every pipeline of `folder`, each on its own: one broken file is reported with its
    error (file and key path) and the others still load. Two files naming the same
    pipeline are both an error for the second one."""
    configs: list[PipelineConfig] = []
    errors: dict[Path, str] = {}
    for path in pipeline_files(folder):
        try:
            config = load_pipeline_config(path)
        except ConfigError as exc:
            errors[path] = str(exc)
            continue
        except Exception as exc:  # a loader bug must not take the other pipelines down
            errors[path] = f"{path}: could not be loaded: {type(exc).__name__}: {exc}"
            continue
        clash = next((c for c in configs if c.name == config.name), None)
        if clash is not None:
            errors[path] = f"{path}: name: pipeline {config.name!r} is already defined"
            continue
        configs.append(config)
    return PipelineFolder(configs, errors)
