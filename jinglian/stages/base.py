"""What a stage is.

A stage is a plain class: ``Params`` (a dataclass the job file fills in and the
job validator checks), ``setup()`` (load models once per worker) and
``process(batch)`` over a ``pyarrow.Table``. Stages know nothing about Ray: the
executor decides where they run, so a stage is unit-tested with a plain table.

``process`` receives only rows still in play (not rejected, not failed) and
returns them, in order, with columns added or changed and verdicts written with
:func:`jinglian.documents.reject` / :func:`~jinglian.documents.fail`. A stage
may append new rows (a crawler that follows links); it never drops one.

A :class:`BarrierStage` needs the whole dataset before it can judge a row
(deduplication, statistics). The executor runs the pipeline up to it over every
partition, calls ``prepare()`` once with all the rows that reached it and a
:class:`~jinglian.pipeline.dataops.DataOps` to compute with (map and shuffle over
Parquet partitions: distributed with Ray, in-process in tests), then streams
every partition through ``process()`` as usual.

Work that needs no pipeline rows (training a model from files the params name)
belongs in :meth:`Stage.before_run`, not in a barrier: it runs once, on the
driver, before any segment starts, and costs no extra pass over the data.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa

from jinglian import documents as D

if TYPE_CHECKING:
    from jinglian.pipeline.dataops import DataOps, TableSet


@dataclass
class NoParams:
    """A stage without parameters."""


@dataclass
class RunContext:
    """What a stage may know about the run it is part of."""

    output_dir: str
    work_dir: str  # scratch space for this stage (state of a barrier, caches)
    job_dir: str = "."  # relative paths in params resolve here (the working directory of the run)
    seed: int = 0

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.job_dir, path)


class Stage:
    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    # Resources a worker running this stage needs (the executor reads them).
    num_cpus: ClassVar[float] = 1.0

    def __init__(self, params=None, context: RunContext | None = None):
        self.params = params if params is not None else self.Params()
        self.context = context or RunContext(output_dir=".", work_dir=".")

    def before_run(self) -> dict:
        """Driver-side preparation, once per run before any segment starts; returns statistics.

        For what ``setup()`` needs and no row can provide (a model to train from the
        sources in the params). Non-empty statistics land in stats.json like a barrier's
        (the stage's ``prepare`` entry) and commit a marker: a resumed run reports them
        again and does not call this. Default: nothing to do.
        """
        return {}

    def after_run(self) -> dict:
        """Driver-side work once every partition of every segment is committed; returns statistics.

        For what needs every partition's output but no second pass over the rows (the token
        shards' manifest, from what each partition recorded). It runs again when a resumed run
        ends, so it must be idempotent. Statistics land in stats.json like ``before_run``'s.
        Default: nothing to do.
        """
        return {}

    def check(self) -> None:
        """Cheap check, once on the driver before anything runs, that what ``setup()`` loads is there.

        Raise OSError or ValueError naming what is missing (a model file): the run stops with that
        one message instead of failing in every worker after the cluster has started. Default:
        nothing to check. Must not load heavy resources (the driver would pay for them).
        """

    def setup(self) -> None:
        """Load heavy resources. Called once per worker before the first batch."""

    def process(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

    def partition_done(self, part: int) -> None:
        """Called once partition ``part``'s outputs are committed, before its marker is written.

        For worker state that must last exactly as long as the partition's outputs: a run
        killed before the marker redoes the partition, and a resumed run skips it after.
        Default: nothing to keep.
        """

    def summary(self) -> dict:
        """Extra counts for stats.json (e.g. replacements per type) since the previous call.

        Called after every partition on a long-lived worker; the executor sums the
        results over partitions, so a stage must reset what it reported.
        """
        return {}


class StageSetupError(RuntimeError):
    """A stage's ``setup()`` failed on a worker: no partition can run, so the run stops with this message."""


class BarrierStage(Stage):
    def prepare(self, rows: "TableSet", ops: "DataOps") -> dict:
        """Global phase over every row that reached this stage; returns statistics.

        State needed by ``process`` is written under ``self.context.work_dir``.
        """
        raise NotImplementedError


@dataclass
class StageCounts:
    """Bookkeeping of one stage, kept by :func:`apply_stage` (datatrove-style: once, not per stage)."""

    docs_in: int = 0
    docs_out: int = 0
    added: int = 0
    rejected: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    wall_s: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def merge(self, other: "StageCounts") -> None:
        for f in dataclasses.fields(self):
            if f.name in ("reasons", "extra"):
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        _add_counts(self.reasons, other.reasons)
        _add_counts(self.extra, other.extra)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["wall_s"] = round(self.wall_s, 3)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "StageCounts":
        return cls(**d)


def _add_counts(into: dict, other: dict) -> None:
    for k, v in other.items():
        if isinstance(v, dict):
            _add_counts(into.setdefault(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            into[k] = into.get(k, 0) + v
        else:
            into[k] = v


def _text_bytes(table: pa.Table) -> int:
    if D.TEXT not in table.column_names or len(table) == 0:
        return 0
    import pyarrow.compute as pc

    total = pc.sum(pc.binary_length(table[D.TEXT])).as_py()
    return int(total or 0)


def apply_stage(stage: Stage, table: pa.Table, counts: StageCounts) -> pa.Table:
    """Run ``stage`` over the active rows of ``table`` and do the bookkeeping.

    Rows already rejected or failed pass through untouched. If ``process`` raises
    on the batch, the rows are retried one by one so that only the rows that
    really fail are marked failed (with the error), and the rest go on.
    """
    start = time.perf_counter()
    table = D.with_verdict_columns(table)
    mask = D.active_mask(table)
    done = table.filter(pa.array(~mask))
    active = table.filter(pa.array(mask))
    counts.docs_in += len(active)
    counts.bytes_in += _text_bytes(active)
    if len(active):
        out = _process_isolating_failures(stage, active)
    else:
        out = active
    counts.added += max(0, len(out) - len(active))
    out_mask = D.active_mask(out)
    counts.docs_out += int(out_mask.sum())
    counts.bytes_out += _text_bytes(out.filter(pa.array(out_mask)))
    finished = out.filter(pa.array(~out_mask))
    counts.failed += sum(1 for e in finished[D.ERROR].to_pylist() if e is not None)
    for reason in finished[D.REASON].to_pylist():
        if reason is not None:
            counts.rejected += 1
            counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
    counts.wall_s += time.perf_counter() - start
    if len(done) == 0:
        return out
    return pa.concat_tables([out, done], promote_options="permissive")


def _process_isolating_failures(stage: Stage, active: pa.Table) -> pa.Table:
    try:
        return D.with_verdict_columns(stage.process(active))
    except Exception:  # noqa: BLE001 - any stage bug must not kill the run
        if len(active) == 1:
            return D.fail(active, np.ones(1, bool), _describe_error(stage))
    pieces = [_process_isolating_failures(stage, active.slice(i, 1)) for i in range(len(active))]
    return pa.concat_tables(pieces, promote_options="permissive")


def _describe_error(stage: Stage) -> str:
    last = traceback.format_exc().strip().splitlines()[-1]
    return f"{stage.name}: {last}"[:2000]
