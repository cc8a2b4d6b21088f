"""The config reference (docs/config-reference.md), rendered from the pydantic models.

Every key of a pipeline YAML and of the alerts YAML, with its type, whether it is required,
its default and its description, read from the models themselves so that the reference
cannot drift from what the loader accepts. `mlap config-reference` prints it.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from . import alerts, models
from .base import NAME_PATTERN

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
        default = _value(getattr(defaults, name)) if inherited else "required"
    else:
        required = "no"
        value = (
            getattr(defaults, name)
            if inherited
            else field.get_default(call_default_factory=True, validated_data={})
        )
        default = "its keys' defaults" if isinstance(value, BaseModel) else _value(value)
    description = (field.description or "").strip()
    return Key(path, _field_type(field), required, default, description, leaf)


def _nested(name: str, path: str, field: FieldInfo, defaults: BaseModel | None) -> _Nested | None:
    """The model section(s) under a key, if its value is (a mapping or list of) models."""
    tp, discriminator = _optional_inner(field.annotation), field.discriminator
    default = getattr(defaults, name) if defaults is not None else field.default
    origin = get_origin(tp)
    if origin is dict:
        tp, discriminator = _unwrap(get_args(tp)[1])
        path, default = f"{path}.{PLACEHOLDERS.get(name, '<key>')}", None
    elif origin is list:
        tp, discriminator = _unwrap(get_args(tp)[0])
        path, default = f"{path}[]", None
    members = _model_members(tp)
    if not members:
        return None
    return _Nested(
        path,
        members,
        discriminator if isinstance(discriminator, str) else None,
        default if isinstance(default, BaseModel) else None,
    )


def model_tag(model: type[BaseModel], discriminator: str) -> tuple[str, ...]:
    """The values of a tagged model's discriminator, e.g. ('csv',) for the CSV connector."""
    return tuple(str(v) for v in get_args(model.model_fields[discriminator].annotation))


def _unwrap(tp: Any) -> tuple[Any, str | None]:
    """`Annotated[X, Field(discriminator=...)]` -> (X, discriminator)."""
    if get_origin(tp) is Annotated:
        inner, *metadata = get_args(tp)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                return inner, meta.discriminator
        return inner, None
    return tp, None


def _optional_inner(tp: Any) -> Any:
    if _is_union(tp):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_members(tp: Any) -> tuple[type[BaseModel], ...]:
    if _is_model(tp):
        return (tp,)
    if _is_union(tp) and all(_is_model(a) for a in get_args(tp)):
        return get_args(tp)
    return ()


def _field_type(field: FieldInfo) -> str:
    pattern = _pattern(field.metadata)
    tp = _optional_inner(field.annotation)
    text = _str_matching(pattern) if pattern else _type_name(tp, field.discriminator)
    for meta in field.metadata:
        text += _constraint(meta, tp is str)
    return text


def _str_matching(pattern: str) -> str:
    return "snake_case name" if pattern == NAME_PATTERN else f"str matching `{pattern}`"


def _type_name(tp: Any, discriminator: Any = None) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        inner, *metadata = args
        pattern = _pattern(metadata)
        if pattern is not None:
            return _str_matching(pattern)
        disc = next((m.discriminator for m in metadata if isinstance(m, FieldInfo)), None)
        return _type_name(inner, disc)
    if _is_model(tp):
        return "section"
    if members := _model_members(tp):
        if isinstance(discriminator, str):
            tags = " | ".join(f"'{t}'" for m in members for t in model_tag(m, discriminator))
            return f"section, by `{discriminator}`: {tags}"
        return "section"
    if origin is Literal:
        values = " | ".join(f"'{a}'" if isinstance(a, str) else str(a) for a in args)
        return f"one of {values}" if len(args) > 1 else values
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "one of " + " | ".join(f"'{m.value}'" for m in tp)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]"
    if _is_union(tp):
        if all(get_origin(a) is Literal for a in args):
            return _type_name(Literal[tuple(v for a in args for v in get_args(a))])
        return " | ".join(_type_name(a) for a in args)
    if tp is date:
        return "date (YYYY-MM-DD)"
    if tp is type(None):
        return "null"
    return str(getattr(tp, "__name__", tp))


def _pattern(metadata: Iterable[Any]) -> str | None:
    """The regex a str must match, from the metadata of a field or of an `Annotated` type."""
    for meta in metadata:
        if isinstance(meta, FieldInfo):
            found = _pattern(meta.metadata)
            if found is not None:
                return found
        elif isinstance(getattr(meta, "pattern", None), str):
            return str(meta.pattern)
    return None


def _constraint(meta: Any, is_str: bool) -> str:
    if isinstance(meta, annotated_types.Ge):
        return f", >= {meta.ge}"
    if isinstance(meta, annotated_types.Gt):
        return f", > {meta.gt}"
    if isinstance(meta, annotated_types.Le):
        return f", <= {meta.le}"
    if isinstance(meta, annotated_types.Lt):
        return f", < {meta.lt}"
    if isinstance(meta, annotated_types.MinLen):
        if is_str:
            return ", non-empty" if meta.min_length == 1 else f", >= {meta.min_length} characters"
        return f", at least {meta.min_length} entr{'y' if meta.min_length == 1 else 'ies'}"
    return ""


def _value(value: Any) -> str:
    """A default as inline code (JSON, which YAML reads too)."""
    return f"`{json.dumps(to_jsonable_python(value), ensure_ascii=False)}`"


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
