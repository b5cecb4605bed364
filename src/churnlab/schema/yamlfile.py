"""Reading a user's YAML file into plain values, with one-line errors.

PyYAML's own exceptions are several lines with a caret drawing and, for a file that is not
UTF-8, a UnicodeDecodeError from deep inside the reader; a key written twice is silently
overwritten by the later one. Here each becomes one ConfigError line naming the file, the
line and column, and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from churnlab.errors import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (PyYAML keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)  # resolve `<<:` merge keys first, as SafeLoader does
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key (a list): SafeLoader reports it below
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key '{key}' is given twice (first on line {first.start_mark.line + 1}); keep one",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def decode_utf8(data: bytes, source: str) -> str:
    """The file's text; ConfigError naming the line and byte offset of the first byte that is
    not UTF-8 (a leading byte-order mark is dropped)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 2]
        raise ConfigError(
            f"{source}: not UTF-8 text: byte {exc.start} (line {line}) is {bad!r}; save the file "
            "as UTF-8 (e.g. an editor's 'Save with encoding: UTF-8'; Shift-JIS/cp932 is not read)"
        ) from None


def yaml_error_line(exc: yaml.YAMLError, source: str) -> str:
    """One line for a YAML syntax error: file, line, column, what is wrong."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"{problem} ({context})" if context else str(problem)
    if "'\\t'" in text:
        text += "; indent with spaces, not tabs"
    return f"{source}:{where} not valid YAML: {text}"


def read_yaml(path: str | Path, missing_hint: str = "") -> Any:
    """Parse a YAML file into plain Python values (None for an empty file).

    Raises:
        ConfigError: one line - the file does not exist (`missing_hint` appended), is not
            UTF-8, is not valid YAML (line and column), or gives a mapping key twice.
    """
    path = Path(path)
    if not path.is_file():
        hint = f" ({missing_hint})" if missing_hint else ""
        raise ConfigError(f"{path}: not found{hint}")
    text = decode_utf8(path.read_bytes(), str(path))
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_line(exc, str(path))) from None
