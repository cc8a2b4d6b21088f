"""The config reference (docs/config-reference.md), rendered from the pydantic models.

Every key of a pipeline YAML and of the alerts YAML, with its type, whether it is required,
its default and its description, read from the models themselves so that the reference
cannot drift from what the loader accepts. `mlap config-reference` prints it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from . import alerts, models
from .type_names import field_type, model_members, model_tag, optional_inner, shown_value, unwrap

REGENERATE = "mlap config-reference > docs/config-reference.md"

# What stands for a key the user chooses, in the key paths of mapping sections.
PLACEHOLDERS = {
    "sources": "<name>",
    "columns": "<column>",
    "definitions": "<feature>",
    "candidates": "<family>",
    "search_space": "<param>",
    "channels": "<channel>",
}


@dataclass(frozen=True)
class Key:
    """One row of the reference: a key path and what the models say about it."""

    path: str
    type: str
    required: str
    default: str
    description: str
    leaf: bool


@dataclass(frozen=True)
class Section:
    """One model at one place in the config: its docstring and its own keys."""

    path: str
    variant: str
    intro: str
    keys: tuple[Key, ...]


@dataclass(frozen=True)
class _Nested:
    """A key whose value is one model, one of several (tagged), or many of them."""

    path: str
    models: tuple[type[BaseModel], ...]
    discriminator: str | None
    default: BaseModel | None


def pipeline_sections() -> list[Section]:
    return list(model_sections(models.PipelineConfig))


def alerts_sections() -> list[Section]:
    return list(model_sections(alerts.AlertsConfig))


def all_keys() -> list[Key]:
    return [key for section in pipeline_sections() + alerts_sections() for key in section.keys]


def render() -> str:
    """The whole reference as Markdown, ending with one newline."""
    parts = [
        "# Config reference",
        "Generated from the pydantic models in `ml_assets/lib/config/`; do not edit by hand. "
        f"Regenerate with `make docs` (or `{REGENERATE}`); "
        "`tests/test_config_reference.py` fails when this file is stale.",
        "Columns: **required** says whether the key must be written when its section is; "
        "**default** is the value used when it is not (JSON, which YAML reads as well). "
        "`<name>`-style parts of a key path are names you choose.",
        "## Pipeline config: `configs/pipelines/<name>.yaml`",
        "One file per ML use case. Loading applies, in order: `extends: <file>` (a base "
        "file relative to this one; mappings merge key by key, lists and scalars are "
        "replaced; files whose name starts with `_` are bases only), then `${VAR}` / "
        "`${VAR:-default}` substitution in every string value, then validation against "
        "the keys below.",
        *(_render_section(s) for s in pipeline_sections()),
        "## Alerts config: `configs/alerts.yaml`",
        _doc(alerts),
        *(_render_section(s) for s in alerts_sections()),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def model_sections(
    model: type[BaseModel],
    path: str = "",
    variant: str = "",
    defaults: BaseModel | None = None,
    discriminator: str | None = None,
) -> Iterator[Section]:
    """The section of `model` at `path`, then those of the models under it, depth first."""
    keys: list[Key] = []
    nested: list[_Nested] = []
    for name, field in model.model_fields.items():
        key_path = f"{path}.{name}" if path else name
        inner = _nested(name, key_path, field, defaults)
        key = _key(name, key_path, field, defaults, leaf=inner is None)
        if not key.description and name == discriminator:
            key = replace(key, description=f"`{variant}` selects this variant.")
        elif not key.description and inner is not None and len(inner.models) == 1:
            key = replace(key, description=_summary(inner.models[0]))
        keys.append(key)
        if inner is not None:
            nested.append(inner)
    yield Section(path, variant, _doc(model), tuple(keys))
    for inner in nested:
        for member in inner.models:
            label = ""
            if inner.discriminator:
                tag = model_tag(member, inner.discriminator)
                label = f"{inner.discriminator}: {' | '.join(tag)}"
            yield from model_sections(member, inner.path, label, inner.default, inner.discriminator)


def _key(name: str, path: str, field: FieldInfo, defaults: BaseModel | None, *, leaf: bool) -> Key:
    inherited = defaults is not None
    if field.is_required():
        required = "yes, if the section is written" if inherited else "yes"
        default = shown_value(getattr(defaults, name)) if inherited else "required"
    else:
        required = "no"
        value = (
            getattr(defaults, name)
            if inherited
            else field.get_default(call_default_factory=True, validated_data={})
        )
        default = "its keys' defaults" if isinstance(value, BaseModel) else shown_value(value)
    description = (field.description or "").strip()
    return Key(path, field_type(field), required, default, description, leaf)


def _nested(name: str, path: str, field: FieldInfo, defaults: BaseModel | None) -> _Nested | None:
    """The model section(s) under a key, if its value is (a mapping or list of) models."""
    tp, discriminator = optional_inner(field.annotation), field.discriminator
    default = getattr(defaults, name) if defaults is not None else field.default
    origin = get_origin(tp)
    if origin is dict:
        tp, discriminator = unwrap(get_args(tp)[1])
        path, default = f"{path}.{PLACEHOLDERS.get(name, '<key>')}", None
    elif origin is list:
        tp, discriminator = unwrap(get_args(tp)[0])
        path, default = f"{path}[]", None
    members = model_members(tp)
    if not members:
        return None
    return _Nested(
        path,
        members,
        discriminator if isinstance(discriminator, str) else None,
        default if isinstance(default, BaseModel) else None,
    )


def _summary(model: type[BaseModel]) -> str:
    """A section key's description when its field has none: the model's first paragraph."""
    return _doc(model).split("\n\n")[0].replace("\n", " ")


def _doc(obj: Any) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    return inspect.cleandoc(doc) if doc else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _render_section(section: Section) -> str:
    title = f"### `{section.path}`" if section.path else "### Top level"
    if section.variant:
        title += f" with `{section.variant}`"
    rows = [
        "| key | type | required | default | description |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| `{k.path}` | {_cell(k.type)} | {k.required} | {_cell(k.default)} "
            f"| {_cell(k.description)} |"
            for k in section.keys
        ),
    ]
    return "\n\n".join(p for p in (title, section.intro, "\n".join(rows)) if p)
