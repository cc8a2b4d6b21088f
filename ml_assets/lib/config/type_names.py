"""Readable type names of config fields, for the config reference: `int, >= 1`,
`list[str]`, `one of 'f1' | 'cost'`, `snake_case name`."""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import to_jsonable_python

from .base import NAME_PATTERN


def model_tag(model: type[BaseModel], discriminator: str) -> tuple[str, ...]:
    """The values of a tagged model's discriminator, e.g. ('csv',) for the CSV connector."""
    return tuple(str(v) for v in get_args(model.model_fields[discriminator].annotation))


def unwrap(tp: Any) -> tuple[Any, str | None]:
    """`Annotated[X, Field(discriminator=...)]` -> (X, discriminator)."""
    if get_origin(tp) is Annotated:
        inner, *metadata = get_args(tp)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and isinstance(meta.discriminator, str):
                return inner, meta.discriminator
        return inner, None
    return tp, None


def optional_inner(tp: Any) -> Any:
    if is_union(tp):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return tp


def is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def model_members(tp: Any) -> tuple[type[BaseModel], ...]:
    if is_model(tp):
        return (tp,)
    if is_union(tp) and all(is_model(a) for a in get_args(tp)):
        return get_args(tp)
    return ()


def field_type(field: FieldInfo) -> str:
    pattern = pattern_of(field.metadata)
    tp = optional_inner(field.annotation)
    text = str_matching(pattern) if pattern else type_name(tp, field.discriminator)
    for meta in field.metadata:
        text += constraint_text(meta, tp is str)
    return text


def str_matching(pattern: str) -> str:
    return "snake_case name" if pattern == NAME_PATTERN else f"str matching `{pattern}`"


def type_name(tp: Any, discriminator: Any = None) -> str:
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        inner, *metadata = args
        pattern = pattern_of(metadata)
        if pattern is not None:
            return str_matching(pattern)
        disc = next((m.discriminator for m in metadata if isinstance(m, FieldInfo)), None)
        return type_name(inner, disc)
    if is_model(tp):
        return "section"
    if members := model_members(tp):
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
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"dict[{type_name(args[0])}, {type_name(args[1])}]"
    if is_union(tp):
        if all(get_origin(a) is Literal for a in args):
            return type_name(Literal[tuple(v for a in args for v in get_args(a))])
        return " | ".join(type_name(a) for a in args)
    if tp is date:
        return "date (YYYY-MM-DD)"
    if tp is type(None):
        return "null"
    return str(getattr(tp, "__name__", tp))


def pattern_of(metadata: Iterable[Any]) -> str | None:
    """The regex a str must match, from the metadata of a field or of an `Annotated` type."""
    for meta in metadata:
        if isinstance(meta, FieldInfo):
            found = pattern_of(meta.metadata)
            if found is not None:
                return found
        elif isinstance(getattr(meta, "pattern", None), str):
            return str(meta.pattern)
    return None


def constraint_text(meta: Any, is_str: bool) -> str:
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


def shown_value(value: Any) -> str:
    """A default as inline code (JSON, which YAML reads too)."""
    return f"`{json.dumps(to_jsonable_python(value), ensure_ascii=False)}`"
