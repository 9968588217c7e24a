"""Config files (job files, pretraining configs) into dataclasses: one set of type rules, one message per mistake.

A message names the file, the field as a dotted path (``stages[1].dedup.threshold``,
``optim.lr``), what was expected and what was found, and suggests the nearest name
for an unknown key. Fields are checked against their annotations (``int``, ``float``,
``str``, ``bool``, ``X | None``, ``Literal[...]``, ``list[X]``, ``dict[K, V]``, nested
dataclasses); a field declared with ``metadata=bounds(...)`` is also checked against
its range. Fields without a default are required.

YAML is read as PyYAML's safe loader reads it, except for exponents: PyYAML (YAML 1.1)
reads ``1e-4`` (no dot) and ``1.0e4`` (no sign) as strings, which would make a quoted and
an unquoted learning rate the same thing; here, as in YAML 1.2, ``1e-4`` is a number and
``"1e-4"`` a string, wherever the config comes from.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config is not valid; the message names the file, the field and what was expected."""


@dataclass(frozen=True)
class Where:
    """A field inside a config file, for messages: ``jobs/x.yaml: stages[1].dedup.threshold``."""

    file: str | None = None
    path: str = ""

    def at(self, key: str, join: str = ".") -> Where:
        return Where(self.file, f"{self.path}{join}{key}" if self.path else key)

    def __str__(self) -> str:
        if self.file and self.path:
            return f"{self.file}: {self.path}"
        return self.file or self.path or "config"


@dataclass(frozen=True)
class Range:
    """Allowed values of a number field; ``None`` bounds are open."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, value) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))

    def __str__(self) -> str:
        low = (self.ge, "[") if self.ge is not None else (self.gt, "(") if self.gt is not None else None
        high = (self.le, "]") if self.le is not None else (self.lt, ")") if self.lt is not None else None
        if low and high:
            return f"in {low[1]}{_num(low[0])}, {_num(high[0])}{high[1]}"
        if low:
            return f"{'>=' if low[1] == '[' else '>'} {_num(low[0])}"
        return f"{'<=' if high[1] == ']' else '<'} {_num(high[0])}" if high else "any value"


def bounds(ge=None, gt=None, le=None, lt=None) -> dict:
    """Field metadata for a number's range: ``dp: int = field(default=1, metadata=bounds(ge=1))``."""
    return {"range": Range(ge, gt, le, lt)}


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4`` and ``1.0e4`` as floats, as YAML 1.2 does."""


_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != _FLOAT] for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[0-9][0-9_]*[eE][-+]?[0-9]+
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |\.(?:inf|Inf|INF))
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str, where: Where | str | None = None):
    """``text`` as YAML (``1e-4`` a number); a syntax error is a :class:`ConfigError` naming ``where``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where or 'config'}: not valid YAML: {exc}") from None


def load_yaml(path: str, what: str = "config file"):
    """The YAML file at ``path``; a missing file or a syntax error is a :class:`ConfigError`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc}") from None
    return parse_yaml(text, path)


def build(cls, values, where: Where, what: str = "key"):
    """An instance of dataclass ``cls`` from a mapping: names, types, ranges and required fields checked.

    ``what`` names a key in messages ("unknown parameter", "unknown key")."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of {what}s, got {_show(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    check_keys(values, fields, where, what)
    for name, f in fields.items():
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required field '{name}'")
    kwargs = {key: check_value(value, hints[key], where.at(key)) for key, value in values.items()}
    try:
        built = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check_bounds(built, where)
    return built


def check_bounds(obj, where: Where) -> None:
    """Every field of dataclass ``obj`` declared with ``metadata=bounds(...)`` holds a value in its range
    (also for objects built in code rather than from a file)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        limits = f.metadata.get("range")
        value = getattr(obj, f.name)
        if limits is not None and value is not None and not limits.holds(value):
            raise ConfigError(f"{where.at(f.name)}: expected {_type_name(_not_none(hints[f.name]))} {limits}, got {_show(value)}")


def check_value(value, typ, where: Where):
    """``value`` checked against the annotation ``typ`` and returned (ints widened to float, dataclasses built)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return check_value(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_type_name(typ)}, got {_show(value)}")
    if typ is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {_show(value)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, args))}, got {_show(value)}")
    if dataclasses.is_dataclass(typ):
        return build(typ, value, where)
    if origin in (list, tuple) or typ in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return [check_value(v, item, where.at(f"[{i}]", join="")) for i, v in enumerate(value)]
    if origin is dict or typ is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_show(value)}")
        key_t, val_t = args if args else (Any, Any)
        return {check_value(k, key_t, where): check_value(v, val_t, where.at(str(k))) for k, v in value.items()}
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {_show(value)}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {_show(value)}")
    if typ in (str, bool):
        if isinstance(value, typ):
            return value
        raise ConfigError(f"{where}: expected {_type_name(typ)}, got {_show(value)}")
    if isinstance(typ, type) and isinstance(value, typ):
        return value
    raise ConfigError(f"{where}: expected {_type_name(typ)}, got {_show(value)}")


def check_keys(mapping: dict, allowed, where: Where, what: str = "key") -> None:
    """Every key of ``mapping`` is one of ``allowed``, else the first unknown one is named with the nearest allowed name."""
    for key in mapping:
        if key not in allowed:
            expected = ", ".join(map(str, allowed)) or "none"
            raise ConfigError(f"{where.at(str(key))}: unknown {what} (expected one of: {expected}){suggest(key, allowed)}")


def suggest(name, choices) -> str:
    """``; did you mean 'x'?`` for the choice nearest to ``name``, or nothing when none is near."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _type_name(typ) -> str:
    if typ is type(None):
        return "null"
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(typ))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(typ)))
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}
    return names.get(origin or typ, getattr(typ, "__name__", str(typ)))


def _not_none(typ):
    """``X`` for ``X | None`` (a range applies to the value when there is one)."""
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(typ) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return typ


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _show(value) -> str:
    return f"{type(value).__name__} {value!r}"[:80]
