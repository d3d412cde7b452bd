"""Load a YAML launch file keeping the line number of every mapping and key.

PyYAML's ``safe_load`` forgets where things came from, which makes "unknown tag
'nodes'" useless in a 300-line file. The loader here builds the same Python
values as ``yaml.safe_load`` (the parser of ``ros2 launch`` uses exactly that,
so booleans, numbers and strings get the same types), except that mappings
become :class:`LineDict` and sequences :class:`LineList`, which remember the
line they start on and, for mappings, the line of each key.

Duplicate keys, which ``safe_load`` silently collapses to the last one, are an
error here: in a launch file they are always a mistake.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import LaunchFileError


class LineDict(dict):
    """A YAML mapping that knows its first line and the line of each key."""

    line: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        """Line of ``key`` if it is present, else the line of the mapping."""
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that knows its first line."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records line numbers (1-based) on mappings and sequences."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)  # resolve YAML merge keys (<<) like safe_load does
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key_line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable mapping key", key_node.start_mark
            ) from exc
        if key in result:
            raise _DuplicateKey(key, key_line, result.key_lines[key])
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line
        self.first_line = first_line


def load_yaml_text(text: str, display_path: str) -> Any:
    """Parse YAML ``text``; errors are :class:`LaunchFileError` at ``display_path``."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # _LineLoader is a SafeLoader
    except _DuplicateKey as exc:
        raise LaunchFileError(
            f"duplicate key {exc.key!r} (first given at line {exc.first_line})",
            display_path,
            exc.line,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise LaunchFileError(f"invalid YAML: {problem}", display_path, line) from None
    except yaml.YAMLError as exc:
        raise LaunchFileError(f"invalid YAML: {exc}", display_path) from None


def load_yaml_file(path: str, display_path: str | None = None) -> Any:
    """Read and parse the YAML file at ``path`` (errors name ``display_path``)."""
    shown = display_path if display_path is not None else path
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise LaunchFileError(f"cannot read launch file: {exc.strerror}", shown) from None
    return load_yaml_text(text, shown)
