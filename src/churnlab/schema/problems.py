"""A pydantic validation as lines a user can act on, and the building blocks of the schemas.

Every problem is one line: `<file>: <key.path> = <value>: expected <what>`, where <what>
comes from the field's `description` if it has one, else from its type and range (e.g. "a
whole number >= 0"). An unknown key is a warning with a did-you-mean (difflib), unless its
section refuses unknown keys (`Section.unknown_keys = "error"`: the code itself would stop on
it, e.g. an unknown vocabulary meaning).
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import annotated_types as at
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

MAX_VALUE_CHARS = 60
MAX_KEYS_SHOWN = 4


class Section(BaseModel):
    """A mapping in a user's file. Strict: `true` is not a number, `"3"` is not an integer, a
    number is not text; `.nan` / `.inf` are not numbers."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
    # "warn": an unknown key is reported and ignored (the code never reads it);
    # "error": the code refuses it (e.g. an unknown effect or meaning), so it is a problem.
    unknown_keys: ClassVar[str] = "warn"


@dataclass
class Problems:
    """Errors and warnings found in one file, one line each."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def extend(self, other: Problems) -> None:
        self.errors += other.errors
        self.warnings += other.warnings


def show(value: Any) -> str:
    """A value as the user wrote it, shortened: 'accounts', 5, ['a', 'b'], null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def path_text(loc: tuple[Any, ...]) -> str:
    """('ingest', 'required_tables', 0) -> 'ingest.required_tables[0]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: Any, choices: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice by difflib's ratio, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- what a type expects, in words -------------------------------------------------------


def _split(annotation: Any) -> tuple[Any, list[Any], bool, str | None]:
    """(bare type, constraint metadata, nullable, description) of an annotation."""
    meta: list[Any] = []
    nullable = False
    description = None
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for m in extra:
                if isinstance(m, FieldInfo):
                    meta.extend(m.metadata)
                    description = description or m.description
                else:
                    meta.append(m)
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            if len(args) != 1:
                return annotation, meta, nullable, description
            annotation = args[0]
        else:
            return annotation, meta, nullable, description


def _range(meta: list[Any]) -> str:
    bounds: dict[str, Any] = {}
    for m in meta:
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(m, getattr(at, name.capitalize())):
                bounds[name] = getattr(m, name)
    lo = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds.get("gt"))
    hi = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds.get("lt"))
    if lo[1] is not None and hi[1] is not None:
        left = "[" if lo[0] == "ge" else "("
        right = "]" if hi[0] == "le" else ")"
        return f" in {left}{lo[1]}, {hi[1]}{right}"
    if lo[1] is not None:
        return f" {'>=' if lo[0] == 'ge' else '>'} {lo[1]}"
    if hi[1] is not None:
        return f" {'<=' if hi[0] == 'le' else '<'} {hi[1]}"
    return ""


def describe(annotation: Any, info: FieldInfo | None = None) -> str:
    """'a whole number >= 0', 'one of duckdb, spark', 'a list of ...', 'a section ...'."""
    if info is not None and info.description:
        return info.description
    bare, meta, nullable, description = _split(annotation)
    if description:
        return description
    if info is not None:
        meta = [*meta, *info.metadata]
    origin = typing.get_origin(bare)
    lengths = [m for m in meta if isinstance(m, at.MinLen) and m.min_length > 0]
    if bare is bool:
        text = "true or false"
    elif bare is int:
        text = "a whole number" + _range(meta)
    elif bare is float:
        text = "a number" + _range(meta)
    elif bare is str:
        text = "text"
    elif origin is Literal:
        text = "one of " + ", ".join(str(a) for a in typing.get_args(bare))
    elif origin is list:
        (item,) = typing.get_args(bare)
        text = ("a non-empty list" if lengths else "a list") + f" (each {describe(item)})"
    elif origin is dict:
        key, value = typing.get_args(bare)
        text = f"a mapping {{{describe(key)}: {describe(value)}}}"
    elif isinstance(bare, type) and issubclass(bare, BaseModel):
        keys = list(bare.model_fields)
        shown = ", ".join(keys[:MAX_KEYS_SHOWN]) + (", ..." if len(keys) > MAX_KEYS_SHOWN else "")
        text = f"a mapping of key: value (keys: {shown})"
    else:
        text = "a valid value"
    return text + (" or null" if nullable else "")


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, FieldInfo | None]:
    """The annotation (and FieldInfo, when the location is a model field) at `loc`."""
    if loc and loc[-1] == "[key]":  # (..., the bad key, "[key]"): the mapping's key type
        annotation, _ = _walk(model, loc[:-2])
        key = typing.get_args(_split(annotation)[0])
        return (key[0] if key else None), None
    annotation: Any = model
    info: FieldInfo | None = None
    for part in loc:
        bare = _split(annotation)[0]
        origin = typing.get_origin(bare)
        if isinstance(bare, type) and issubclass(bare, BaseModel) and part in bare.model_fields:
            info = bare.model_fields[part]
            annotation = info.annotation
            continue
        info = None
        if origin is list and isinstance(part, int):
            annotation = typing.get_args(bare)[0]
        elif origin is dict:
            annotation = typing.get_args(bare)[1]
        else:
            return None, None
    return annotation, info


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    annotation, _ = _walk(model, loc)
    bare = _split(annotation)[0]
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    if loc and loc[-1] == "[key]":
        return loc[-2]
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def problems_of(
    model: type[BaseModel],
    data: Any,
    source: str,
    prefix: tuple[Any, ...] = (),
    where: typing.Callable[[tuple[Any, ...]], str] | None = None,
) -> Problems:
    """Validate `data` against `model`; every problem as one line.

    `prefix` is prepended to key paths; `where(loc)` replaces the `<key.path>` part (the
    hypotheses file names an entry by id, not by index)."""
    out = Problems()
    try:
        model.model_validate(data)
    except ValidationError as exc:
        seen: set[tuple[Any, ...]] = set()
        for err in exc.errors():
            loc = tuple(err["loc"])
            if loc in seen:
                continue
            seen.add(loc)
            line, is_warning = _line(model, data, loc, err)
            name = (
                where(loc) if where else path_text(prefix + tuple(p for p in loc if p != "[key]"))
            )
            (out.warnings if is_warning else out.errors).append(f"{source}: {name}{line}")
    return out


def _line(model: type[BaseModel], data: Any, loc: tuple[Any, ...], err: dict) -> tuple[str, bool]:
    """(text after the key path, is a warning) for one pydantic error."""
    kind = err["type"]
    value = _value_at(data, loc)
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        what = "unknown section" if len(loc) == 1 else "unknown key"
        hint = did_you_mean(loc[-1], known)
        listing = f" (known: {', '.join(known)})" if known else ""
        if parent is not None and parent.unknown_keys == "error":
            return f": {what}{hint}{listing}", False
        return f": {what}, ignored{hint}{listing}", True
    annotation, info = _walk(model, loc)
    if loc and loc[-1] == "[key]":
        choices = typing.get_args(_split(annotation)[0])
        if not choices:
            return f": key {show(value)}: expected {describe(annotation)}", False
        return (
            f": '{value}' is not a known name; expected one of {', '.join(map(str, choices))}"
            f"{did_you_mean(value, choices)}",
            False,
        )
    if kind == "missing":
        return f": missing; expected {describe(annotation, info)}", False
    if kind == "value_error":
        if _model_at(model, loc) is not None:  # a rule across keys: the message names them
            return f": {err['ctx']['error']}", False
        return f" = {show(value)}: {err['ctx']['error']}", False
    expected = describe(annotation, info) if annotation is not None else err["msg"]
    hint = ""
    if isinstance(value, bool) and kind in ("int_type", "float_type"):
        hint = " (true/false is not a number)"
    if kind == "literal_error" and isinstance(value, str):
        hint = did_you_mean(value, re.findall(r"'([^']*)'", err["ctx"]["expected"]))
    return f" = {show(value)}: expected {expected}{hint}", False
