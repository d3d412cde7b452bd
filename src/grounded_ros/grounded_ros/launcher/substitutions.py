"""``$(...)`` substitutions: parsing strings into parts, and performing them.

The syntax follows the grammar of the ROS 2 launch frontend
(``launch/frontend/grammar.lark``):

* ``$(name)`` or ``$(name arg1 arg2 ...)``: arguments are separated by single
  spaces; an argument is either unquoted (no spaces, quotes or parentheses) or
  quoted with ``'...'`` / ``"..."`` (spaces allowed); arguments may themselves
  contain substitutions, e.g. ``$(find-pkg-share $(var pkg))``;
* ``\\x`` is the character ``x`` (so ``\\$(`` is a literal ``$(``); a ``$`` not
  followed by ``(`` is literal;
* everything else is literal text, and text and substitutions mix freely:
  ``"$(dirname)/../config/x.yaml"``.

A parsed string is a :data:`Text`: a tuple of parts, each a ``str`` or a
:class:`Substitution`. Only the substitutions in :data:`SUPPORTED` are
accepted; any other name is rejected when the file is parsed, never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import SubstitutionError
from .safe_eval import safe_eval


@dataclass(frozen=True)
class Substitution:
    """One ``$(name args...)``; each argument is itself a :data:`Text`."""

    name: str
    args: tuple[Text, ...] = ()


Part = str | Substitution
Text = tuple[Part, ...]


@dataclass(frozen=True)
class _Spec:
    min_args: int
    max_args: int
    usage: str


# The substitutions grounded-launch performs, with their arity.
SUPPORTED: dict[str, _Spec] = {
    "var": _Spec(1, 1, "$(var NAME)"),
    "env": _Spec(1, 2, "$(env NAME [DEFAULT])"),
    "dirname": _Spec(0, 0, "$(dirname)"),
    "filename": _Spec(0, 0, "$(filename)"),
    "find-pkg-share": _Spec(1, 1, "$(find-pkg-share PACKAGE)"),
    "find-pkg-prefix": _Spec(1, 1, "$(find-pkg-prefix PACKAGE)"),
    "eval": _Spec(1, 1, "$(eval 'EXPRESSION')"),
}


class SubstitutionSyntaxError(Exception):
    """A malformed substitution string; ``column`` is 0-based within the string."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column


def _is_identifier_start(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_identifier_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in "_-")


class _Parser:
    """Recursive-descent parser over one string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def at_substitution(self) -> bool:
        return self.peek() == "$" and self.peek(1) == "("

    def error(self, message: str) -> SubstitutionSyntaxError:
        return SubstitutionSyntaxError(message, self.pos)

    def template(self) -> Text:
        """Top level: literal text (quotes included) and substitutions."""
        return self._parts(quote=None, start=self.pos)

    def _parts(self, quote: str | None, start: int) -> Text:
        """Literal text and substitutions up to the closing quote (or the end of the text).

        Shared by the top level and quoted arguments: a backslash escapes the
        next character and ``$(`` opens a nested substitution in both.
        """
        parts: list[Part] = []
        buffer: list[str] = []
        while True:
            char = self.peek()
            if char == "":
                if quote is not None:
                    raise SubstitutionSyntaxError(f"unterminated {quote} in substitution", start)
                break
            if char == quote:
                self.pos += 1
                break
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.peek(1))
                self.pos += 2
            elif self.at_substitution():
                if buffer:
                    parts.append("".join(buffer))
                    buffer = []
                parts.append(self.substitution())
            else:
                buffer.append(char)
                self.pos += 1
        if buffer:
            parts.append("".join(buffer))
        return tuple(parts)

    def substitution(self) -> Substitution:
        start = self.pos
        self.pos += 2  # "$("
        name_start = self.pos
        if not _is_identifier_start(self.peek()):
            raise self.error("expected a substitution name after '$('")
        while _is_identifier_char(self.peek()):
            self.pos += 1
        name = self.text[name_start : self.pos]
        args: list[Text] = []
        while True:
            char = self.peek()
            if char == ")":
                self.pos += 1
                return Substitution(name, tuple(args))
            if char == "":
                raise SubstitutionSyntaxError(f"unterminated '$({name}': missing ')'", start)
            if char != " ":
                raise self.error(f"unexpected {char!r} in '$({name} ...)'")
            self.pos += 1
            if self.peek() in (" ", ")", ""):
                raise self.error(f"expected an argument after a single space in '$({name} ...)'")
            args.append(self.argument())

    def argument(self) -> Text:
        quote = self.peek()
        if quote in ("'", '"'):
            return self.quoted(quote)
        parts: list[Part] = []
        buffer: list[str] = []
        while True:
            char = self.peek()
            if char in (" ", ")", ""):
                break
            if char == "\\" and self.pos + 1 < len(self.text):
                buffer.append(self.peek(1))
                self.pos += 2
            elif self.at_substitution():
                if buffer:
                    parts.append("".join(buffer))
                    buffer = []
                parts.append(self.substitution())
            elif char in "'\"(":
                raise self.error(
                    f"unexpected {char!r} in a substitution argument (quote the whole argument)"
                )
            else:
                buffer.append(char)
                self.pos += 1
        if buffer:
            parts.append("".join(buffer))
        return tuple(parts)

    def quoted(self, quote: str) -> Text:
        start = self.pos
        self.pos += 1
        return self._parts(quote=quote, start=start)


def _validate(parts: Text, text: str) -> None:
    for part in parts:
        if isinstance(part, str):
            continue
        spec = SUPPORTED.get(part.name)
        if spec is None:
            supported = ", ".join(f"$({name})" for name in SUPPORTED)
            raise SubstitutionSyntaxError(
                f"unsupported substitution '$({part.name})' in {text!r}"
                f" (grounded-launch supports: {supported})",
                text.find(f"$({part.name}"),
            )
        if not spec.min_args <= len(part.args) <= spec.max_args:
            raise SubstitutionSyntaxError(
                f"'$({part.name})' takes {_arity(spec)}, got {len(part.args)}"
                f" in {text!r} (usage: {spec.usage})",
                text.find(f"$({part.name}"),
            )
        for arg in part.args:
            _validate(arg, text)


def _arity(spec: _Spec) -> str:
    if spec.min_args == spec.max_args:
        return f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    return f"{spec.min_args} to {spec.max_args} arguments"


def parse_text(text: str) -> Text:
    """Parse ``text`` into parts; raises :class:`SubstitutionSyntaxError`."""
    parts = _Parser(text).template()
    _validate(parts, text)
    return parts


def is_literal(text: Text) -> bool:
    """True when ``text`` holds no substitution."""
    return all(isinstance(part, str) for part in text)


def literal(value: str) -> Text:
    """A :data:`Text` for a string that needs no parsing."""
    return (value,) if value else ()


@dataclass
class Context:
    """What substitutions read: launch configurations, environment, current file."""

    configurations: Mapping[str, str]
    environment: Mapping[str, str]
    current_file: str
    package_prefix: Callable[[str], str]


def perform(text: Text, context: Context) -> str:
    """Evaluate ``text`` to a string; raises :class:`SubstitutionError`."""
    return "".join(part if isinstance(part, str) else _perform_one(part, context) for part in text)


def _perform_one(substitution: Substitution, context: Context) -> str:
    args = [perform(arg, context) for arg in substitution.args]
    name = substitution.name
    if name == "var":
        value = context.configurations.get(args[0])
        if value is None:
            raise SubstitutionError(
                f"launch configuration '{args[0]}' is not set"
                " (declare it with an 'arg' before use, or pass it)"
            )
        return value
    if name == "env":
        value = context.environment.get(args[0])
        if value is not None:
            return value
        if len(args) == 2:
            return args[1]
        raise SubstitutionError(f"environment variable '{args[0]}' is not set")
    if name == "dirname":
        return os.path.dirname(context.current_file)
    if name == "filename":
        return context.current_file
    if name == "find-pkg-prefix":
        return context.package_prefix(args[0])
    if name == "find-pkg-share":
        return os.path.join(context.package_prefix(args[0]), "share", args[0])
    if name == "eval":
        return safe_eval(args[0])
    # parse_text() only lets SUPPORTED names through, so this is a programming error.
    raise SubstitutionError(f"unsupported substitution '$({name})'")


def to_source(text: Text) -> str:
    """Write ``text`` back in launch-file syntax (for messages and ``--show-args``)."""
    pieces = []
    for part in text:
        if isinstance(part, str):
            pieces.append(part.replace("\\", "\\\\").replace("$(", "\\$("))
        else:
            args = "".join(" " + _arg_source(arg) for arg in part.args)
            pieces.append(f"$({part.name}{args})")
    return "".join(pieces)


def _arg_source(arg: Text) -> str:
    source = to_source(arg)
    literal_text = "".join(part for part in arg if isinstance(part, str))
    if not source or any(char in literal_text for char in " '\"()"):
        return "'" + source.replace("'", "\\'") + "'"
    return source
