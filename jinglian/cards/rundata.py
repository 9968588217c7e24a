"""Everything a dataset card says about a run, read from the run directory.

The counts come from ``stats.json`` (written by the engine) and, when the run
was tokenized, from ``tokens/manifest.json``; they are copied, never
recomputed, so the card and the run agree. Distributions that stats.json does
not hold (document lengths per language, quality scores, duplicate-cluster
sizes, rejections per source) are measured from the Parquet outputs by polars
lazy scans (only the columns needed, aggregated without a Python loop over
rows), up to ``max_docs`` kept documents.

Optional stages are recognised by what they leave behind, not by name alone:
a ``quality_score`` column, rejected rows carrying ``duplicate_of``, a stage's
``prepare``/``extra`` statistics, a ``tokens/`` or ``tokenizer/`` directory.
"""

from __future__ import annotations

import contextlib
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
import polars as pl
import pyarrow as pa
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
    try:
        with _named_if_damaged(f"{path}: a part file of docs/ or rejected/"):
            _measure_kept(data, max_docs)
            _measure_rejected(data)
    except _UnreadablePart as exc:
        raise RunDirError(str(exc)) from None
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


class _UnreadablePart(Exception):
    pass


@contextlib.contextmanager
def _named_if_damaged(what: str):
    """A damaged part file is one error naming it, not a traceback."""
    try:
        yield
    except (pa.ArrowException, pl.exceptions.PolarsError, OSError) as exc:
        raise _UnreadablePart(f"{what}: not readable Parquet ({exc}); re-run the job to rewrite it") from None


def _schema_names(file: str) -> list[str]:
    with _named_if_damaged(file):
        return pq.read_schema(file).names


def _scan(files: list[str], columns: dict) -> pl.LazyFrame | None:
    """The ``columns`` (name -> polars dtype) of all ``files`` as one lazy frame, in file order; a
    column a file lacks reads as nulls there (partitions need not carry the same optional columns)."""
    if not files:
        return None
    frames = []
    for file in files:
        names = set(_schema_names(file))
        frames.append(pl.scan_parquet(file).select(
            [pl.col(c).cast(t) if c in names else pl.lit(None, dtype=t).alias(c) for c, t in columns.items()]))
    return pl.concat(frames, how="vertical")


def _present(files: list[str], *columns: str) -> set[str]:
    return {c for file in files for c in _schema_names(file) if c in columns}


def _measure_kept(data: RunData, max_docs: int) -> None:
    files = _part_files(data.path, "docs")
    present = _present(files, LANG, QUALITY)
    kept = _scan(files, {D.TEXT: pl.String, LANG: pl.String, QUALITY: pl.Float64})
    if kept is None:
        return
    kept = kept.head(max_docs).select(
        pl.col(D.TEXT).str.len_chars().fill_null(0).alias("n"),
        pl.when(pl.col(LANG).is_null() | (pl.col(LANG) == "")).then(pl.lit(UNKNOWN_LANG)).otherwise(pl.col(LANG)).alias(LANG),
        pl.col(QUALITY),
    ).collect()
    data.sampled_docs = kept.height
    by_lang = kept.group_by(LANG, maintain_order=True).agg(pl.col("n"))
    data.lengths = {lang: np.asarray(n, dtype=np.int64) for lang, n in by_lang.iter_rows()}
    if QUALITY in present:
        data.quality["kept"] = kept[QUALITY].drop_nulls().drop_nans().to_numpy()


def _measure_rejected(data: RunData) -> None:
    files = _part_files(data.path, "rejected")
    present = _present(files, D.DUPLICATE_OF, QUALITY)
    rejected = _scan(files, {D.REASON: pl.String, D.SOURCE: pl.String, D.DUPLICATE_OF: pl.String, QUALITY: pl.Float64})
    if rejected is None:
        return
    # maintain_order: groups come in the order their first row does, as the counters filled row by row did
    by_source, clusters, quality = pl.collect_all([
        rejected.group_by(D.REASON, pl.col(D.SOURCE).fill_null(""), maintain_order=True).len(),
        rejected.filter(pl.col(D.DUPLICATE_OF).is_not_null())
        .group_by(D.DUPLICATE_OF, maintain_order=True).agg(pl.len(), pl.col(D.REASON).unique(maintain_order=True)),
        rejected.filter(pl.col(QUALITY).is_not_null() & pl.col(QUALITY).is_not_nan())
        .group_by(pl.format("rejected by {}", pl.col(D.REASON).str.split(":").list.first()).alias("name"),
                  maintain_order=True).agg(pl.col(QUALITY)),
    ])
    sources: dict[str, Counter] = {}
    for reason, source, n in by_source.iter_rows():
        sources.setdefault(reason, Counter())[source] = n
    data.rejected_by_source = dict(sorted(sources.items()))
    if D.DUPLICATE_OF in present:
        data.cluster_sizes = Counter(n + 1 for _, n, _ in clusters.iter_rows())
        data.duplicate_reasons = {r for reasons in clusters[D.REASON] for r in reasons}
    if QUALITY in present:
        for name, scores in sorted(quality.iter_rows()):
            data.quality[name] = np.asarray(scores, dtype=float)


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
