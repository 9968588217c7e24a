"""Job files: load, validate, and describe what is wrong in one clear message.

A job is YAML::

    name: demo
    output: build/demo
    input:
      - {path: "data/*.jsonl", format: jsonl, source: web}
    stages:
      - filter: {rule_sets: [chinese]}
      - dedup: {}
    card: {license: cc-by-4.0}      # optional: build a dataset card at the end
    pretrain: {config: jobs/pretrain-tiny.yaml, steps: 20}  # optional: train on the shards at the end

Everything is checked before anything runs: unknown keys and stages, parameter
types (against each stage's ``Params`` dataclass), missing input files.
Relative paths are relative to the working directory of ``jinglian run`` (the
repository root under ``ray job submit --working-dir .``).
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from jinglian.stages import GENERATORS, STAGES, is_plugin_name, stage_class
from jinglian.core.stage import Stage
from jinglian.stages.ingest import READERS, reader

TOP_LEVEL_KEYS = {
    "name": str, "description": str, "input": list, "output": str, "stages": list, "seed": int, "card": dict,
    "pretrain": dict,
}


@dataclass
class PretrainAfterRun:
    """A job's ``pretrain:`` section: train on the run's own token shards when curation ends."""

    config: str  # pretraining config (YAML), e.g. jobs/pretrain-tiny.yaml
    steps: int | None = None  # override train.steps (a few, for a demo)
    # Continue a LLaMA with the run's extended tokenizer: a Hugging Face model directory, or
    # "random" (the demo: a small random LLaMA for the run's base tokenizer). None: from scratch.
    continue_from: str | None = None
INPUT_KEYS = {"path": str, "format": str, "source": str, "generate": str}


class JobError(ValueError):
    """A job file is not valid; the message names the file, the field and what was expected."""


@dataclass
class InputSpec:
    path: str  # a path, directory or glob; relative paths are relative to the working directory
    format: str
    source: str
    options: dict = field(default_factory=dict)
    generate: str | None = None

    def files(self) -> list[str]:
        if any(ch in self.path for ch in "*?["):
            return sorted(p for p in glob.glob(self.path, recursive=True) if os.path.isfile(p))
        if os.path.isdir(self.path):
            return sorted(os.path.join(self.path, f) for f in os.listdir(self.path) if not f.startswith("."))
        return [self.path] if os.path.exists(self.path) else []


@dataclass
class StageSpec:
    name: str
    params: Any  # an instance of the stage's Params dataclass

    @property
    def cls(self):
        return stage_class(self.name)


@dataclass
class Job:
    file: str
    name: str
    output: str
    inputs: list[InputSpec]
    stages: list[StageSpec]
    seed: int = 0
    card: Any = None  # CardOptions when the job asks for a dataset card at the end of the run
    pretrain: PretrainAfterRun | None = None
    description: str = ""
    raw: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What makes two runs the same job: inputs, stages and seed (not the output path, card or pretraining)."""
        content = {k: v for k, v in self.raw.items() if k in ("input", "stages", "seed")}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_job(path: str, output: str | None = None) -> Job:
    """Read and validate a job file; raise :class:`JobError` on the first problem."""
    if not os.path.isfile(path):
        raise JobError(f"{path}: no such job file")
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise JobError(f"{path}: not valid YAML: {exc}") from None
    where = _Where(path)
    if not isinstance(raw, dict):
        raise JobError(f"{path}: expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    _check_keys(raw, TOP_LEVEL_KEYS, where, "top level")
    for key in ("name", "input", "output", "stages"):
        if key not in raw and not (key == "output" and output):
            raise JobError(f"{path}: missing required field '{key}'")
    for key, typ in TOP_LEVEL_KEYS.items():
        if key in raw:
            check_value(raw[key], typ, where.at(key))
    inputs = [_load_input(entry, where.at(f"input[{i}]")) for i, entry in enumerate(raw["input"])]
    if not inputs:
        raise JobError(f"{where.at('input')}: expected at least one input entry")
    stages = [_load_stage(entry, where.at(f"stages[{i}]")) for i, entry in enumerate(raw["stages"])]
    card = None
    if "card" in raw:
        from jinglian.cards.card import CardOptions

        card = build_dataclass(CardOptions, raw["card"], where.at("card"))
    pretrain = build_dataclass(PretrainAfterRun, raw["pretrain"], where.at("pretrain")) if "pretrain" in raw else None
    if pretrain and not os.path.isfile(pretrain.config):
        raise JobError(f"{where.at('pretrain.config')}: no such file {pretrain.config!r}")
    return Job(
        file=path,
        name=raw["name"],
        output=output or raw["output"],
        inputs=inputs,
        stages=stages,
        seed=raw.get("seed", 0),
        card=card,
        pretrain=pretrain,
        description=raw.get("description", ""),
        raw=raw,
    )


def _load_input(entry, where: "_Where") -> InputSpec:
    if not isinstance(entry, dict):
        raise JobError(f"{where}: expected a mapping with 'path' and 'format', got {type(entry).__name__}")
    for key in ("path", "format"):
        if key not in entry:
            raise JobError(f"{where}: missing required field '{key}'")
    fmt = entry["format"]
    if fmt not in READERS:
        raise JobError(f"{where}.format: unknown format {fmt!r} (expected one of: {', '.join(sorted(READERS))}){_suggest(fmt, READERS)}")
    option_types = dict(getattr(reader(fmt), "options", {}))
    _check_keys(entry, {**INPUT_KEYS, **option_types}, where, "input entry")
    for key, typ in {**INPUT_KEYS, **option_types}.items():
        if key in entry:
            check_value(entry[key], typ, where.at(key))
    if entry.get("generate") not in (None, *GENERATORS):
        raise JobError(f"{where}.generate: unknown generator {entry['generate']!r} (expected one of: {', '.join(GENERATORS)})")
    spec = InputSpec(
        path=entry["path"],
        format=fmt,
        source=entry.get("source", fmt),
        options={k: v for k, v in entry.items() if k in option_types},
        generate=entry.get("generate"),
    )
    if not spec.generate and not spec.files():
        raise JobError(f"{where}.path: no input file matches {entry['path']!r}")
    return spec


def _load_stage(entry, where: "_Where") -> StageSpec:
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise JobError(f"{where}: expected one stage name mapping to its parameters, e.g. '- dedup: {{}}'")
    (name, params), = entry.items()
    if name not in STAGES and not is_plugin_name(name):
        raise JobError(f"{where}: unknown stage {name!r} (expected one of: {', '.join(sorted(STAGES))}, "
                       f"or a plugin's 'package.module:Class'){_suggest(name, STAGES)}")
    params = {} if params is None else params
    try:
        cls = stage_class(name)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"{where}: stage {name!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise JobError(f"{where}: {name!r} is not a jinglian Stage subclass")
    built = build_dataclass(cls.Params, params, where.at(name))
    try:
        cls(built)  # stages check their parameters' values when built (cheap: models load in setup)
    except ValueError as exc:
        raise JobError(f"{where.at(name)}: {exc}") from None
    return StageSpec(name=name, params=built)


def build_dataclass(cls, values, where: "_Where"):
    """Instantiate a Params dataclass from a mapping, checking names and types."""
    if not isinstance(values, dict):
        raise JobError(f"{where}: expected a mapping of parameters, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            expected = ", ".join(fields) or "no parameters"
            raise JobError(f"{where.at(key)}: unknown parameter (expected one of: {expected}){_suggest(key, fields)}")
    kwargs = {key: check_value(value, fields[key], where.at(key)) for key, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise JobError(f"{where}: {exc}") from None


def check_value(value, typ, where: "_Where"):
    """Check ``value`` against a type annotation; return it (nested dataclasses are built)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return check_value(value, option, where)
            except JobError as exc:
                errors.append(exc)
        raise JobError(f"{where}: expected {_type_name(typ)}, got {_show(value)}")
    if typ is type(None):
        if value is None:
            return None
        raise JobError(f"{where}: expected null, got {_show(value)}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise JobError(f"{where}: expected one of {', '.join(map(repr, args))}, got {_show(value)}")
    if dataclasses.is_dataclass(typ):
        return build_dataclass(typ, value, where)
    if origin in (list, tuple) or typ in (list, tuple):
        if not isinstance(value, list):
            raise JobError(f"{where}: expected a list, got {_show(value)}")
        item = args[0] if args else Any
        return [check_value(v, item, where.at(f"[{i}]", join="")) for i, v in enumerate(value)]
    if origin is dict or typ is dict:
        if not isinstance(value, dict):
            raise JobError(f"{where}: expected a mapping, got {_show(value)}")
        key_t, val_t = args if args else (Any, Any)
        return {check_value(k, key_t, where): check_value(v, val_t, where.at(str(k))) for k, v in value.items()}
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise JobError(f"{where}: expected a number, got {_show(value)}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise JobError(f"{where}: expected an integer, got {_show(value)}")
    if typ in (str, bool):
        if isinstance(value, typ):
            return value
        raise JobError(f"{where}: expected {'a string' if typ is str else 'true or false'}, got {_show(value)}")
    if isinstance(typ, type) and isinstance(value, typ):
        return value
    raise JobError(f"{where}: expected {_type_name(typ)}, got {_show(value)}")


def _check_keys(mapping: dict, allowed, where: "_Where", what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise JobError(f"{where.at(str(key))}: unknown {what} key (expected one of: {', '.join(allowed)}){_suggest(str(key), allowed)}")


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), list(choices), n=1)
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


def _show(value) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


@dataclass
class _Where:
    """A field path inside a job file, for error messages: ``jobs/x.yaml: stages[1].dedup.threshold``."""

    file: str
    path: str = ""

    def at(self, key: str, join: str = ".") -> "_Where":
        return _Where(self.file, f"{self.path}{join}{key}" if self.path else key)

    def __str__(self) -> str:
        return f"{self.file}: {self.path}" if self.path else self.file
