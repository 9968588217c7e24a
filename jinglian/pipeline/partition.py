"""Running a segment of the pipeline over one partition.

A partition is one input file (segment 0) or one intermediate Parquet file
written by the previous segment. The runner streams its rows in batches
through the segment's stages and writes the result, atomically, either as
the final ``docs/``, ``rejected/`` and ``errors/`` part files or as the
intermediate file for the next segment. A small JSON with the counts is
written last: its presence is what marks the partition as committed. With an
output on object storage the final part files are written locally, then
uploaded whole, then the marker (:mod:`jinglian.pipeline.run_store`).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jinglian.core import documents as D
from jinglian.core.atomic import write_json_atomic
from jinglian.pipeline import run_store
from jinglian.pipeline.shared import share
from jinglian.pipeline.sink import PartitionFile
from jinglian.core.context import RunContext
from jinglian.pipeline.apply import StageCounts, StageSetupError, apply_stage, take_statistics
from jinglian.stages.ingest import ReadError, reader

# Fields a reader may set that become typed columns; anything else goes to `metadata` (JSON).
RECORD_FIELDS = {
    D.TEXT: pa.string(),
    "content": pa.binary(),
    "url": pa.string(),
    "fetch_time": pa.string(),
    "content_type": pa.string(),
    "charset": pa.string(),
}
FINAL_DROP = ("content",)  # raw bytes are not part of the curated output


@dataclass
class PartitionTask:
    part: int
    source_path: str  # input file (segment 0) or intermediate Parquet
    input_format: str | None = None  # set for segment 0
    input_source: str = ""
    input_options: dict = field(default_factory=dict)


@dataclass
class SegmentPlan:
    """What one worker needs to run a segment: stage specs and where outputs go."""

    index: int
    stages: list  # [(stage name, params)]
    output_dir: str
    final: bool
    batch_size: int = 256
    seed: int = 0
    store_url: str | None = None  # a bucket output: final parts are uploaded there (output_dir is the staging)
    storage_options: dict = field(default_factory=dict)

    def store(self):
        from jinglian.core.object_store import ObjectStore

        return ObjectStore(self.store_url, self.storage_options)

    def intermediate_path(self, part: int) -> str:
        return os.path.join(self.output_dir, "_work", f"segment-{self.index}", f"part-{part:05d}.parquet")

    def marker_path(self, part: int) -> str:
        if self.final:
            return os.path.join(self.output_dir, "_parts", f"part-{part:05d}.json")
        return self.intermediate_path(part) + ".json"


def read_input_batches(task: PartitionTask, batch_size: int):
    """Turn a reader's records into Arrow batches with ids and provenance.

    No record can stop the file: a record that cannot be turned into a row
    becomes a failed row, and a reader that raises ends its file with one
    failed row naming the file (its records before that are kept).
    """
    rows: list[dict] = []
    for number, record in enumerate(_records(task)):
        try:
            row = _row(task, number, record)
        except Exception as exc:  # noqa: BLE001 - e.g. a reader that yields something other than a dict
            row = _failed(_provenance(task, number), f"read: record not convertible: {type(exc).__name__}: {exc}")
        rows.append(row)
        if len(rows) >= batch_size:
            yield _to_table(rows)
            rows = []
    if rows:
        yield _to_table(rows)


def _records(task: PartitionTask):
    try:
        read = reader(task.input_format)
        yield from read(task.source_path, task.input_options)
    except Exception as exc:  # noqa: BLE001 - any reader bug costs the rest of its file, never the run
        name = os.path.basename(task.source_path)
        yield ReadError(f"{name}: reader failed, rest of the file not read: {type(exc).__name__}: {exc}")


def _provenance(task: PartitionTask, number: int) -> dict:
    return {
        D.ID: None,
        D.SOURCE: _printable(task.input_source),
        D.INPUT_FILE: _printable(task.source_path),
        D.RECORD: number,
        D.PART: task.part,
        D.ROW: D.row_key(task.part, number),
        D.ERROR: None,
        D.METADATA: None,
    }


def _row(task: PartitionTask, number: int, record) -> dict:
    row = _provenance(task, number)
    if isinstance(record, ReadError):
        url = _printable(record.url) if isinstance(record.url, str) else None
        row.update({D.TEXT: "", "url": url, D.ERROR: _printable(f"read: {record.message}")})
        extra = {}
    else:
        record = dict(record)
        id_field = task.input_options.get("id_field", "id")
        own_id = record.pop(id_field, None)
        row[D.ID] = str(own_id) if own_id is not None else None
        if record.get(D.SOURCE):
            row[D.SOURCE] = str(record.pop(D.SOURCE))
        for name in RECORD_FIELDS:
            if name in record:
                row[name] = record.pop(name)
        record.pop(D.SOURCE, None)
        extra = record
    if row[D.ID] is None:
        row[D.ID] = D.stable_id(_printable(task.source_path), number)
    bad = _not_unicode({**{k: v for k, v in row.items() if isinstance(v, str)}, **extra})
    if bad is not None:
        new_id = D.stable_id(_printable(task.source_path), number) if bad[0] == D.ID else None
        return _failed(row, f"read: {_not_unicode_message(*bad)}", new_id)
    if extra:
        try:
            row[D.METADATA] = json.dumps(extra, ensure_ascii=False, default=str, sort_keys=True)
        except Exception as exc:  # noqa: BLE001 - e.g. fields nested too deeply to serialise
            return _failed(row, f"read: record not convertible: {type(exc).__name__}: {exc}")
    return row


def _failed(row: dict, error: str, new_id: str | None = None) -> dict:
    """A failed row carrying only provenance, the id (``new_id`` when its own is unusable) and a valid url."""
    failed = {k: row[k] for k in (D.ID, D.SOURCE, D.INPUT_FILE, D.RECORD, D.PART, D.ROW)}
    failed.update({D.TEXT: "", D.METADATA: None, D.ERROR: error})
    if new_id is not None or failed[D.ID] is None:
        failed[D.ID] = new_id or D.stable_id(failed[D.INPUT_FILE], failed[D.RECORD])
    url = row.get("url")
    if isinstance(url, str) and _not_unicode({"url": url}) is None:
        failed["url"] = url
    return failed


def _not_unicode(values: dict) -> tuple[str, str, int] | None:
    """(field, value, position) of a string UTF-8 cannot encode (a lone surrogate from a JSON
    ``\\udXXX`` escape), looking into nested lists and dicts; None when every string encodes.

    Arrow, and every later reader of the Parquet output, needs valid UTF-8. A lone surrogate is not
    text, so its record fails with the field named rather than being silently altered.
    """
    stack = list(values.items())
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return name, value, exc.start
        elif isinstance(value, dict):
            stack.extend((name, v) for v in value.values())
            stack.extend((name, k) for k in value if isinstance(k, str))
        elif isinstance(value, (list, tuple)):
            stack.extend((name, v) for v in value)
    return None


def _not_unicode_message(field: str, text: str, at: int) -> str:
    return f"field {field!r} is not valid Unicode (lone surrogate U+{ord(text[at]):04X} at character {at})"


def _printable(text: str) -> str:
    """A provenance string Arrow can store: a file name's undecodable bytes shown as ``\\xff`` escapes."""
    try:
        raw = text.encode("utf-8", "surrogateescape")  # how os gave the name's bytes back
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _to_table(rows: list[dict]) -> pa.Table:
    try:
        return _arrow(rows)
    except Exception:  # noqa: BLE001 - find the rows Arrow refuses; they fail, the others are converted
        fixed = []
        for row in rows:
            try:
                _arrow([row])
            except Exception as exc:  # noqa: BLE001
                row = _failed(row, f"read: record not convertible: {type(exc).__name__}: {exc}")
            fixed.append(row)
        return _arrow(fixed)


def _arrow(rows: list[dict]) -> pa.Table:
    names = [D.ID, D.TEXT, D.SOURCE, D.INPUT_FILE, D.RECORD, D.METADATA, D.ERROR, D.PART, D.ROW]
    names += [n for n in RECORD_FIELDS if n != D.TEXT and any(n in r for r in rows)]
    types = {**RECORD_FIELDS, D.RECORD: pa.int64(), D.PART: pa.int64(), D.ROW: pa.int64()}
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        if name == D.TEXT:
            values = [v if isinstance(v, str) else ("" if v is None else str(v)) for v in values]
        if name == "content":
            values = [v.encode() if isinstance(v, str) else v for v in values]
        columns[name] = pa.array(values, types.get(name, pa.string()))
    return D.with_verdict_columns(pa.table(columns))


def read_intermediate_batches(path: str, batch_size: int):
    file = pq.ParquetFile(path)
    for batch in file.iter_batches(batch_size=batch_size):
        yield pa.Table.from_batches([batch])


class SegmentRunner:
    """Holds one segment's stage instances (set up once per worker) and runs partitions."""

    def __init__(self, plan: SegmentPlan, stage_classes: list):
        self.plan = plan
        self.stages = []
        for (name, params), cls in zip(plan.stages, stage_classes):
            context = RunContext(
                output_dir=plan.output_dir,
                work_dir=os.path.join(plan.output_dir, "_work", f"stage-{name}"),
                seed=plan.seed,
                share=share,
            )
            self.stages.append(cls(params, context))
        self._ready = False

    def run(self, task: PartitionTask, crashed: str | None = None) -> dict:
        """Run the segment's stages over one partition and commit it.

        ``crashed``: the partition killed its worker process every time it ran (a native crash, an
        out-of-memory kill): its documents are read and failed with this message, and no stage runs.
        """
        if not self._ready and crashed is None:
            for stage in self.stages:
                try:
                    stage.setup()
                except Exception as exc:  # the run cannot go on: the driver reports it in one line
                    raise StageSetupError(f"stage {stage.name}: setup failed: {type(exc).__name__}: {exc}") from exc
            self._ready = True
        start = time.perf_counter()
        counts = [StageCounts() for _ in self.stages]
        if task.input_format is not None:
            batches = read_input_batches(task, self.plan.batch_size)
        else:
            batches = read_intermediate_batches(task.source_path, self.plan.batch_size)
        summary = _Summary()
        sinks = self._sinks(task.part)
        for batch in batches:
            if task.input_format is not None:
                summary.read_rows(batch)
            if crashed is not None:
                batch = D.fail(batch, D.active_mask(batch), crashed)
            else:
                for stage, c in zip(self.stages, counts):
                    batch = apply_stage(stage, batch, c)
            self._write(batch, sinks, summary)
        self._commit(sinks)
        for stage, c in zip(self.stages, counts):
            if crashed is None:
                stage.partition_done(task.part)
                c.extra = take_statistics(stage)
        result = {
            "part": task.part,
            "segment": self.plan.index,
            "stages": [c.to_dict() for c in counts],
            "wall_s": round(time.perf_counter() - start, 3),
            **summary.to_dict(),
        }
        if self.plan.final and self.plan.store_url is not None:
            run_store.commit_part(self.plan.store(), task.part, {k: s.path for k, s in sinks.items()}, result)
        else:
            write_json_atomic(self.plan.marker_path(task.part), result)
        return result

    def _sinks(self, part: int) -> dict[str, PartitionFile]:
        out = self.plan.output_dir
        if not self.plan.final:
            return {"all": PartitionFile(self.plan.intermediate_path(part))}
        internal = [D.PART, D.ROW, *FINAL_DROP]
        verdicts = list(D.VERDICT_COLUMNS)
        return {
            "docs": PartitionFile(os.path.join(out, "docs", f"part-{part:05d}.parquet"), internal + verdicts),
            "rejected": PartitionFile(os.path.join(out, "rejected", f"part-{part:05d}.parquet"), internal + [D.ERROR]),
            "errors": PartitionFile(os.path.join(out, "errors", f"part-{part:05d}.parquet"), internal),
        }

    def _write(self, batch: pa.Table, sinks: dict, summary: "_Summary") -> None:
        if not self.plan.final:
            sinks["all"].write(batch)
            return
        failed = np.asarray(pc.is_valid(batch[D.ERROR]).to_numpy(zero_copy_only=False), bool)
        rejected = np.asarray(pc.is_valid(batch[D.REASON]).to_numpy(zero_copy_only=False), bool) & ~failed
        kept = ~failed & ~rejected
        for name, mask in (("docs", kept), ("rejected", rejected), ("errors", failed)):
            part = batch.filter(pa.array(mask))
            sinks[name].write(part)
            summary.outcome(name, part)

    def _commit(self, sinks: dict) -> None:
        for name, sink in sinks.items():
            sink.commit(_empty_schema(name))


def _empty_schema(sink: str) -> pa.Schema:
    fields = [(D.ID, pa.string()), (D.TEXT, pa.string()), (D.SOURCE, pa.string())]
    if sink == "rejected":
        fields += [(D.REASON, pa.string()), (D.REASON_VALUE, pa.float64()), (D.DUPLICATE_OF, pa.string())]
    if sink == "errors":
        fields += [(D.ERROR, pa.string())]
    return pa.schema(fields)


class _Summary:
    """Per-partition totals: rows read, outcomes, and per-source / per-language breakdowns."""

    def __init__(self):
        self.read = 0
        self.outcomes = Counter()
        self.sources: dict[str, Counter] = {}
        self.langs: dict[str, Counter] = {}

    def read_rows(self, batch: pa.Table) -> None:
        self.read += len(batch)

    def outcome(self, name: str, part: pa.Table) -> None:
        key = {"docs": "kept", "rejected": "rejected", "errors": "failed"}[name]
        self.outcomes[key] += len(part)
        if not len(part):
            return
        n = len(part)
        langs = part["lang"] if "lang" in part.column_names else pa.nulls(n, pa.string())
        groups = pa.table({
            "source": pc.fill_null(part[D.SOURCE], ""),
            "lang": pc.fill_null(pc.cast(langs, pa.string()), "unknown"),
            "chars": pc.fill_null(pc.utf8_length(part[D.TEXT]), 0),
        }).group_by(["source", "lang"]).aggregate([("chars", "sum"), ("chars", "count")])
        for src, lang, chars, count in zip(*(groups[c].to_pylist() for c in ("source", "lang", "chars_sum", "chars_count"))):
            s = self.sources.setdefault(src, Counter())
            s[key] += count
            if key == "kept":
                s["chars"] += chars
                lang_counts = self.langs.setdefault(lang, Counter())
                lang_counts["docs"] += count
                lang_counts["chars"] += chars

    def to_dict(self) -> dict:
        return {
            "read": self.read,
            "outcomes": dict(self.outcomes),
            "sources": {k: dict(v) for k, v in self.sources.items()},
            "langs": {k: dict(v) for k, v in self.langs.items()},
        }
