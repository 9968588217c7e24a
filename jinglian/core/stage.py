"""What a stage is.

A stage is a plain class: ``Params`` (a dataclass the job file fills in and the
job validator checks), ``setup()`` (load models once per worker) and
``process(batch)`` over a ``pyarrow.Table``. Stages know nothing about Ray: the
executor decides where they run, so a stage is unit-tested with a plain table.

``process`` receives only rows still in play (not rejected, not failed) and
returns them, in order, with columns added or changed and verdicts written with
:func:`jinglian.core.documents.reject` / :func:`~jinglian.core.documents.fail`. A stage
may append new rows (a crawler that follows links); it never drops one.

A :class:`BarrierStage` needs the whole dataset before it can judge a row
(deduplication, statistics). The executor runs the pipeline up to it over every
partition, calls ``prepare()`` once with all the rows that reached it and a
:class:`~jinglian.core.dataops.DataOps` to compute with (map and shuffle over
Parquet partitions: distributed with Ray, in-process in tests), then streams
every partition through ``process()`` as usual.

Work that needs no pipeline rows (training a model from files the params name)
belongs in :meth:`Stage.before_run`, not in a barrier: it runs once, on the
driver, before any segment starts, and costs no extra pass over the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import pyarrow as pa

from jinglian.core.context import RunContext

if TYPE_CHECKING:
    from jinglian.core.dataops import DataOps, TableSet


@dataclass
class NoParams:
    """A stage without parameters."""


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

    @classmethod
    def busies_every_cpu(cls, params) -> bool:
        """Whether this stage, run in one process with ``params``, keeps every CPU busy by itself (its own
        threads). When every stage of a job does, Ray's workers on one machine would add only their
        start-up, so the engine runs the job in-process (``pipeline.ray_runtime.choose_engine``).
        Default: no, a stage computes on one CPU."""
        return False

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

    def count(self, *path: str, n: int | float = 1) -> None:
        """Add ``n`` to the statistic at ``path`` (nested keys), e.g. ``self.count("charset_from", "http")``.

        The engine owns the counter: it collects the counts after every partition and sums them
        into stats.json, so a stage neither keeps nor resets totals of its own.
        """
        self.context.counter.add(*path, n=n)

    def counters(self) -> dict:
        """Statistics reported even when nothing was counted (zeros, possibly nested). Default: none."""
        return {}


class BarrierStage(Stage):
    def prepare(self, rows: "TableSet", ops: "DataOps") -> dict:
        """Global phase over every row that reached this stage; returns statistics.

        State needed by ``process`` is written under ``self.context.work_dir``.
        """
        raise NotImplementedError
