"""The engine's bookkeeping around a stage: run it over the active rows of a batch and count what it did.

Kept once here (datatrove-style), not per stage: a stage only writes verdicts.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from jinglian.core import documents as D
from jinglian.core.stage import Stage


class StageSetupError(RuntimeError):
    """A stage's ``setup()`` failed on a worker: no partition can run, so the run stops with this message."""


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


def take_statistics(stage: Stage) -> dict:
    """What ``stage`` counted since the previous call, over the zeros it always reports."""
    return stage.context.counter.take(stage.counters())
