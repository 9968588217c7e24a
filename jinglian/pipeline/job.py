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

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from jinglian.core.config import ConfigError, Where, build, check_keys, check_value, load_yaml, suggest
from jinglian.core.stage import Stage
from jinglian.stages import GENERATORS, STAGES, is_plugin_name, stage_class
from jinglian.stages.ingest import READERS, reader

TOP_LEVEL_KEYS = {
    "name": str, "description": str, "input": list, "output": str, "stages": list, "seed": int, "card": dict,
    "pretrain": dict, "output_storage_options": dict, "work_dir": str,
}
# Stages that write files into the output directory themselves: a bucket output cannot take them (yet)
WRITES_INTO_OUTPUT = ("crawl", "tokenize", "train_tokenizer")


@dataclass
class PretrainAfterRun:
    """A job's ``pretrain:`` section: train on the run's own token shards when curation ends."""

    config: str  # pretraining config (YAML), e.g. jobs/pretrain-tiny.yaml
    steps: int | None = None  # override train.steps (a few, for a demo)
    # Continue a LLaMA with the run's extended tokenizer: a Hugging Face model directory, or
    # "random" (the demo: a small random LLaMA for the run's base tokenizer). None: from scratch.
    continue_from: str | None = None
INPUT_KEYS = {"path": str, "format": str, "source": str, "generate": str}
# Remote inputs and Common Crawl paths lists (jinglian.stages.ingest.sources; README "Remote inputs")
REMOTE_INPUT_KEYS = {"paths_list": str, "prefix": str, "skip": int, "limit": int, "storage_options": dict}


class JobError(ConfigError):
    """A job cannot run: its file is not valid (the message names the file, the field and what was
    expected), or its inputs, output or cluster are not usable."""


@dataclass
class InputSpec:
    path: str  # a path, directory or glob; relative paths are relative to the working directory
    format: str
    source: str
    options: dict = field(default_factory=dict)  # the reader's options (storage_options among them)
    generate: str | None = None
    paths_list: str | None = None  # a list of files (Common Crawl's warc.paths.gz); then path is the list
    prefix: str = ""
    skip: int = 0
    limit: int | None = None

    def files(self) -> list[str]:
        from jinglian.stages.ingest.sources import input_files

        return input_files(self)


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
    output_storage_options: dict = field(default_factory=dict)  # an s3:// or gs:// output's settings (endpoint)
    work_dir: str | None = None  # local staging of a bucket output (jinglian.pipeline.run_store)

    def fingerprint(self) -> str:
        """What makes two runs the same job: inputs, stages and seed (not the output path, card or pretraining)."""
        content = {k: v for k, v in self.raw.items() if k in ("input", "stages", "seed")}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_job(path: str, output: str | None = None) -> Job:
    """Read and validate a job file; raise :class:`JobError` on the first problem."""
    try:
        return _load_job(path, output)
    except JobError:
        raise
    except ConfigError as exc:
        raise JobError(str(exc)) from None


def _load_job(path: str, output: str | None) -> Job:
    raw = load_yaml(path, "job file")
    where = Where(path)
    if not isinstance(raw, dict):
        raise JobError(f"{path}: expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    check_keys(raw, TOP_LEVEL_KEYS, where, "top level key")
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

        card = build(CardOptions, raw["card"], where.at("card"), "parameter")
    pretrain = build(PretrainAfterRun, raw["pretrain"], where.at("pretrain")) if "pretrain" in raw else None
    if pretrain and not os.path.isfile(pretrain.config):
        raise JobError(f"{where.at('pretrain.config')}: no such file {pretrain.config!r}")
    if pretrain:  # a mistake in the pretraining config shows now, not after the curation
        from jinglian.pretrain.after_run import check_run_config

        check_run_config(pretrain.config, output or raw["output"], pretrain.steps, pretrain.continue_from)
    job = Job(
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
        output_storage_options=raw.get("output_storage_options", {}),
        work_dir=raw.get("work_dir"),
    )
    _check_remote_output(job, where)
    return job


def _check_remote_output(job: Job, where: Where) -> None:
    """A bucket output: no secrets in its options, and nothing the run would write beside its own objects."""
    from jinglian.core.filesystem import check_storage_options, is_remote

    try:
        check_storage_options(job.output_storage_options, "output_storage_options")
    except ValueError as exc:
        raise JobError(f"{where}: {exc}") from None
    if not is_remote(job.output):  # output_storage_options stay unused: --output may name a bucket another time
        return
    writers = [s.name for s in job.stages if s.name in WRITES_INTO_OUTPUT]
    if writers:
        # Not yet: their files would need the markers' commit (shards in before the partition's marker, the
        # manifest last) to stay correct when a run is killed and resumed.
        url = job.output.rstrip("/")
        then = {"tokenize": f", then 'jinglian shards push LOCAL/tokens {url}/tokens' (shards first, manifest last)",
                "train_tokenizer": f", then copy LOCAL/tokenizer to {url}/tokenizer"}.get(writers[0], "")
        raise JobError(f"{where}: stage {writers[0]!r} writes files into the output itself, which an output on object "
                       f"storage ({job.output}) cannot take yet: run the job into a local output (--output LOCAL){then}")
    if "pretrain" in job.raw:  # it trains on the run's token shards, which a bucket output has none of
        raise JobError(f"{where.at('pretrain')}: not available with an output on object storage ({job.output}) yet; "
                       "run into a local output for it")


def _load_input(entry, where: Where) -> InputSpec:
    if not isinstance(entry, dict):
        raise JobError(f"{where}: expected a mapping with 'path' and 'format', got {type(entry).__name__}")
    if "format" not in entry or ("path" in entry) == ("paths_list" in entry):
        raise JobError(f"{where}: expected 'format' and either 'path' or 'paths_list'")
    for key in ("prefix", "skip", "limit"):
        if key in entry and "paths_list" not in entry:
            raise JobError(f"{where}.{key}: only with 'paths_list'")
    fmt = entry["format"]
    if fmt not in READERS:
        raise JobError(f"{where}.format: unknown format {fmt!r} (expected one of: {', '.join(sorted(READERS))}){suggest(fmt, READERS)}")
    option_types = dict(getattr(reader(fmt), "options", {}))
    check_keys(entry, {**INPUT_KEYS, **REMOTE_INPUT_KEYS, **option_types}, where, "input entry key")
    for key, typ in {**INPUT_KEYS, **REMOTE_INPUT_KEYS, **option_types}.items():
        if key in entry:
            check_value(entry[key], typ, where.at(key))
    if entry.get("generate") not in (None, *GENERATORS):
        raise JobError(f"{where}.generate: unknown generator {entry['generate']!r} (expected one of: {', '.join(GENERATORS)})")
    spec = InputSpec(
        path=entry.get("path") or entry["paths_list"],
        format=fmt,
        source=entry.get("source", fmt),
        options={k: v for k, v in entry.items() if k in option_types or k == "storage_options"},
        generate=entry.get("generate"),
        paths_list=entry.get("paths_list"),
        prefix=entry.get("prefix", ""),
        skip=entry.get("skip", 0),
        limit=entry.get("limit"),
    )
    try:
        if not spec.generate and not spec.files():
            raise JobError(f"{where}.path: no input file matches {entry['path']!r}")
    except ValueError as exc:  # a paths list or remote listing that fails, or credentials in storage_options
        if isinstance(exc, JobError):
            raise
        raise JobError(f"{where}: {exc}") from None
    return spec


def _load_stage(entry, where: Where) -> StageSpec:
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise JobError(f"{where}: expected one stage name mapping to its parameters, e.g. '- dedup: {{}}'")
    (name, params), = entry.items()
    if name not in STAGES and not is_plugin_name(name):
        raise JobError(f"{where}: unknown stage {name!r} (expected one of: {', '.join(sorted(STAGES))}, "
                       f"or a plugin's 'package.module:Class'){suggest(name, STAGES)}")
    params = {} if params is None else params
    try:
        cls = stage_class(name)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"{where}: stage {name!r} cannot be imported: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise JobError(f"{where}: {name!r} is not a jinglian Stage subclass")
    built = build(cls.Params, params, where.at(name), "parameter")
    try:
        cls(built)  # stages check their parameters' values when built (cheap: models load in setup)
    except ValueError as exc:
        raise JobError(f"{where.at(name)}: {exc}") from None
    return StageSpec(name=name, params=built)
