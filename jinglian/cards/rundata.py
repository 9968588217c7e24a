"""Everything a dataset card says about a run, read from the run directory.

The counts come from ``stats.json`` (written by the engine) and, when the run
was tokenized, from ``tokens/manifest.json``; they are copied, never
recomputed, so the card and the run agree. Distributions that stats.json does
not hold (document lengths per language, quality scores, duplicate-cluster
sizes, rejections per source) are measured from the Parquet outputs, reading
only the columns needed, up to ``max_docs`` kept documents.

Optional stages are recognised by what they leave behind, not by name alone:
a ``quality_score`` column, rejected rows carrying ``duplicate_of``, a stage's
``prepare``/``extra`` statistics, a ``tokens/`` or ``tokenizer/`` directory.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import inspect
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jinglian.core import documents as D
from jinglian.tokenizers.model import sidecar_path

QUALITY = "quality_score"
LANG = "lang"
UNKNOWN_LANG = "unknown"


class RunDirError(ValueError):
    """The directory is not a finished jinglian run (no stats.json) or its files do not parse."""


@dataclass
class StageInfo:
    """One processing step: what the job asked for, what the stage's defaults filled in, what it did."""

    index: int
    name: str
    description: str
    params: dict  # effective parameters: defaults overlaid with the job's values
    given: set  # names of the parameters the job file set explicitly
    help: dict  # parameter name -> the comment documenting it in the stage's Params
    stats: dict  # this stage's entry in stats.json["stages"]


@dataclass
class RunData:
    path: str
    stats: dict
    job: dict  # the job as run (parsed YAML from _job.json), {} when absent
    stages: list[StageInfo]
    manifest: dict | None  # tokens/manifest.json
    tokenizer: dict | None  # tokenizer/: {"files": [...], "sidecar": {...} (tokenizer.meta.json), "vocab_size": int | None}
    lengths: dict[str, np.ndarray] = field(default_factory=dict)  # lang -> character lengths of kept docs
    quality: dict[str, np.ndarray] = field(default_factory=dict)  # "kept" / "rejected by <stage>" -> quality scores
    cluster_sizes: Counter = field(default_factory=Counter)  # cluster size (kept + its duplicates) -> clusters
    rejected_by_source: dict[str, Counter] = field(default_factory=dict)  # reason -> source -> docs
    sampled_docs: int = 0  # kept documents measured for the distributions
    duplicate_reasons: set = field(default_factory=set)  # reasons of rejected rows that carry duplicate_of

    def files(self, *patterns: str) -> list[str]:
        """Files under the run directory matching the patterns, relative, sorted."""
        out = set()
        for pattern in patterns:
            out.update(glob.glob(os.path.join(self.path, pattern), recursive=True))
        return sorted(os.path.relpath(p, self.path).replace(os.sep, "/") for p in out if os.path.isfile(p))

    @property
    def totals(self) -> dict:
        return self.stats["totals"]

    def dedup_stages(self) -> list[StageInfo]:
        """Stages that removed duplicates (rows with duplicate_of) or are named for it."""
        prefixes = {r.split(":", 1)[0] for r in self.duplicate_reasons}
        return [s for s in self.stages if "dedup" in s.name or s.name in prefixes]

    def pii_stages(self) -> list[StageInfo]:
        return [s for s in self.stages if "pii" in s.name]


def load_run(path: str, max_docs: int = 200_000) -> RunData:
    """Read a run directory; ``max_docs`` bounds how many kept documents are measured."""
    stats_path = os.path.join(path, "stats.json")
    if not os.path.isfile(stats_path):
        raise RunDirError(f"{path}: no stats.json (not a finished jinglian run)")
    stats = _read_json(stats_path)
    job_file = os.path.join(path, "_job.json")
    job = _read_json(job_file).get("job", {}) if os.path.isfile(job_file) else {}
    manifest_path = os.path.join(path, "tokens", "manifest.json")
    data = RunData(
        path=path,
        stats=stats,
        job=job,
        stages=_stages(job, stats),
        manifest=_read_json(manifest_path) if os.path.isfile(manifest_path) else None,
        tokenizer=_tokenizer(os.path.join(path, "tokenizer")),
    )
    _measure_kept(data, max_docs)
    _measure_rejected(data)
    return data


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: {exc}") from None


def _stages(job: dict, stats: dict) -> list[StageInfo]:
    specs = job.get("stages") or [{s["name"]: {}} for s in stats["stages"]]
    out = []
    for i, (spec, stage_stats) in enumerate(zip(specs, stats["stages"])):
        if isinstance(spec, str):
            spec = {spec: {}}
        (name, given), = spec.items()
        given = dict(given or {})
        description, defaults, helps = _stage_doc(name)
        out.append(StageInfo(i, name, description, {**defaults, **given}, set(given), helps, stage_stats))
    return out


def _stage_doc(name: str) -> tuple[str, dict, dict]:
    """(first paragraph of the stage module's docstring, parameter defaults, parameter comments)."""
    from jinglian.stages import STAGES, stage_class

    if name not in STAGES:
        return "", {}, {}
    cls = stage_class(name)
    description = ""
    for doc in _docstrings(cls):
        if doc:
            description = " ".join(doc.split("\n\n")[0].split())
            break
    try:
        defaults = dataclasses.asdict(cls.Params())
    except TypeError:  # a parameter without default: the job must have set it
        defaults = {}
    return description, defaults, _param_comments(cls.Params)


def _docstrings(cls):
    """Where a stage is described, best first: its class, its package (for ``pkg/stage.py``), its module."""
    yield cls.__doc__ and inspect.getdoc(cls)
    module = inspect.getmodule(cls)
    package, _, leaf = module.__name__.rpartition(".")
    if leaf == "stage":
        yield inspect.getdoc(importlib.import_module(package))
    yield inspect.getdoc(module)


_FIELD = re.compile(r"^\s+(\w+)\s*:[^#]*?(?:#\s*(.+?))?\s*$")
_COMMENT = re.compile(r"^\s+#\s*(.+?)\s*$")


def _param_comments(params_cls) -> dict:
    """Each field's documenting comment: on its line, or the comment lines just above it."""
    try:
        source = inspect.getsource(params_cls)
    except (OSError, TypeError):
        return {}
    out, above = {}, []
    for line in source.splitlines()[1:]:
        comment = _COMMENT.match(line)
        if comment:
            above.append(comment.group(1))
            continue
        field_match = _FIELD.match(line)
        if field_match and (field_match.group(2) or above):
            out[field_match.group(1)] = field_match.group(2) or " ".join(above)
        above = []
    return out


def _tokenizer(directory: str) -> dict | None:
    if not os.path.isdir(directory):
        return None
    files = sorted(f for f in os.listdir(directory) if not f.startswith("."))
    model = os.path.join(directory, "tokenizer.model")
    meta = sidecar_path(model)
    sidecar = _read_json(meta) if os.path.isfile(meta) else {}
    vocab_size = None
    if os.path.isfile(model):
        import sentencepiece as spm

        try:
            vocab_size = spm.SentencePieceProcessor(model_file=model).get_piece_size()
        except (OSError, RuntimeError):
            vocab_size = None
    return {"files": files, "sidecar": sidecar, "vocab_size": vocab_size}


def _part_files(path: str, kind: str) -> list[str]:
    return sorted(glob.glob(os.path.join(path, kind, "*.parquet")))


def _measure_kept(data: RunData, max_docs: int) -> None:
    lengths: dict[str, list] = {}
    quality = []
    for file in _part_files(data.path, "docs"):
        if data.sampled_docs >= max_docs:
            break
        pf = pq.ParquetFile(file)
        columns = [c for c in (D.TEXT, LANG, QUALITY) if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(columns=columns, batch_size=8192):
            batch = batch.slice(0, max_docs - data.sampled_docs)
            data.sampled_docs += batch.num_rows
            n = np.asarray(pc.utf8_length(batch.column(D.TEXT)).to_numpy(zero_copy_only=False))
            langs = batch.column(LANG).to_pylist() if LANG in columns else [UNKNOWN_LANG] * len(n)
            for lang in set(langs):
                sel = np.fromiter((l == lang for l in langs), bool, len(langs))
                lengths.setdefault(lang or UNKNOWN_LANG, []).append(n[sel])
            if QUALITY in columns:
                quality.append(_floats(batch.column(QUALITY)))
            if data.sampled_docs >= max_docs:
                break
    data.lengths = {k: np.concatenate(v) for k, v in lengths.items()}
    if quality:
        data.quality["kept"] = np.concatenate(quality)


def _floats(column) -> np.ndarray:
    values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)
    return values[~np.isnan(values)]


def _measure_rejected(data: RunData) -> None:
    by_source: dict[str, Counter] = {}
    clusters: Counter = Counter()  # kept document id -> duplicates removed in its favour
    quality: dict[str, list] = {}
    for file in _part_files(data.path, "rejected"):
        pf = pq.ParquetFile(file)
        names = pf.schema_arrow.names
        columns = [c for c in (D.REASON, D.SOURCE, D.DUPLICATE_OF, QUALITY) if c in names]
        table = pf.read(columns=columns)
        reasons = table.column(D.REASON).to_pylist()
        sources = table.column(D.SOURCE).to_pylist() if D.SOURCE in columns else [""] * len(reasons)
        for reason, source in zip(reasons, sources):
            by_source.setdefault(reason, Counter())[source or ""] += 1
        if D.DUPLICATE_OF in columns:
            for reason, dup in zip(reasons, table.column(D.DUPLICATE_OF).to_pylist()):
                if dup is not None:
                    clusters[dup] += 1
                    data.duplicate_reasons.add(reason)
        if QUALITY in columns:
            scores = np.asarray(table.column(QUALITY).to_numpy(zero_copy_only=False), dtype=float)
            for reason, score in zip(reasons, scores):
                if not np.isnan(score):
                    quality.setdefault(f"rejected by {reason.split(':', 1)[0]}", []).append(score)
    data.rejected_by_source = dict(sorted(by_source.items()))
    data.cluster_sizes = Counter(n + 1 for n in clusters.values())
    for name, scores in sorted(quality.items()):
        data.quality[name] = np.asarray(scores)


# tokens/manifest.json is written by the tokenize stage (jinglian.stages.token_shards.manifest):
# shards [{prefix, source, split, docs, tokens, dtype, checksums}], sources {name: {train, valid: {docs,
# tokens, shards}, weight}}, totals {split: {docs, tokens, shards}}, tokenizer {sha256, vocab_size, ...}.


def token_sources(manifest: dict) -> dict[str, dict]:
    """source -> {docs, tokens, weight} over all splits."""
    out = {}
    for name, src in manifest.get("sources", {}).items():
        splits = [v for v in src.values() if isinstance(v, dict)]
        out[name] = {
            "docs": sum(v.get("docs", 0) for v in splits),
            "tokens": sum(v.get("tokens", 0) for v in splits),
            "weight": src.get("weight"),
        }
    return out


def token_total(manifest: dict, key: str = "tokens") -> int:
    return sum(t.get(key, 0) for t in manifest.get("totals", {}).values())
