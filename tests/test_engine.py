"""The pipeline engine: stages without Ray, accounting, barriers, Ray execution, resume."""

from __future__ import annotations

import functools
import gzip
import json
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jinglian.core import documents as D
from jinglian.core.dataops import TableSet
from jinglian.pipeline.executor import RunOptions, pool_size, run_job
from jinglian.pipeline.job import JobError, load_job
from jinglian.stages import STAGES
from jinglian.core.stage import BarrierStage, Stage
from jinglian.pipeline.apply import StageCounts, apply_stage
from jinglian.stages.normalize import NormalizeParams, NormalizeStage
from tests.helpers import write_job, write_jsonl


def table(texts, **extra):
    n = len(texts)
    cols = {D.ID: [f"d{i}" for i in range(n)], D.TEXT: texts, D.SOURCE: ["s"] * n, D.PART: [0] * n, D.ROW: list(range(n))}
    cols.update(extra)
    return D.with_verdict_columns(pa.table(cols))


def test_normalize_stage_without_ray():
    stage = NormalizeStage(NormalizeParams())
    out = stage.process(table(["a\u200bb\r\nc  \n\n\n\nd", "\x00\x01 \u3000", "ｆｕｌｌ，"]))
    assert out[D.TEXT].to_pylist() == ["ab\nc\n\nd", "", "ｆｕｌｌ，"]  # NFC keeps full width
    assert out[D.REASON].to_pylist() == [None, "normalize:empty", None]
    assert NormalizeStage(NormalizeParams(form="NFKC")).normalize("ｆｕｌｌ，") == "full,"


class Fragile(Stage):
    name = "fragile"

    def process(self, batch):
        if any("boom" in t for t in batch[D.TEXT].to_pylist()):
            raise ValueError("cannot handle boom")
        return batch.append_column("n", pa.array([len(t) for t in batch[D.TEXT].to_pylist()]))


def test_apply_stage_isolates_the_failing_row_and_keeps_counts():
    counts = StageCounts()
    batch = D.reject(table(["ok", "boom here", "fine", "gone"]), np.array([0, 0, 0, 1], bool), "earlier:rule", 1.0)
    out = apply_stage(Fragile(), batch, counts)
    assert len(out) == 4
    by_id = {r[D.ID]: r for r in out.to_pylist()}
    assert by_id["d1"][D.ERROR] == "fragile: ValueError: cannot handle boom"
    assert by_id["d0"]["n"] == 2 and by_id["d0"][D.ERROR] is None
    assert by_id["d3"][D.REASON] == "earlier:rule"  # untouched by the later stage
    assert (counts.docs_in, counts.docs_out, counts.failed) == (3, 2, 1)


@pytest.fixture
def inputs(tmp_path):
    good = [{"text": f"第{i}篇文档。内容很好。", "id": f"own-{i}", "lang": "zh"} for i in range(30)]
    write_jsonl(tmp_path / "in" / "a.jsonl", good[:20] + ["{not json", "[1, 2]", json.dumps({"title": "no text"})])
    write_jsonl(tmp_path / "in" / "b.jsonl", good[20:] + [{"text": "\x00\x07"}])
    with gzip.open(tmp_path / "in" / "c.jsonl.gz", "wb") as f:
        f.write(("\n".join(json.dumps({"text": f"压缩 {i}"}) for i in range(40))).encode())
    truncated = (tmp_path / "in" / "c.jsonl.gz").read_bytes()
    (tmp_path / "in" / "d.jsonl.gz").write_bytes(truncated[: len(truncated) // 2])
    (tmp_path / "in" / "e.jsonl").write_bytes(b"")
    return tmp_path


def make_job(tmp_path, stages, name="t", output="out"):
    path = write_job(
        tmp_path / f"{name}.yaml",
        name=name,
        output=str(tmp_path / output),
        input=[{"path": str(tmp_path / "in" / "*.jsonl*"), "format": "jsonl", "source": "web"}],
        stages=stages,
    )
    return load_job(path)


def read_dir(path):
    files = sorted(os.listdir(path))
    return pa.concat_tables([pq.read_table(os.path.join(path, f)) for f in files], promote_options="permissive")


def test_local_run_accounts_for_every_input_record(inputs):
    stats = run_job(make_job(inputs, [{"normalize": {}}]), RunOptions(use_ray=False, quiet=True))
    t = stats["totals"]
    assert t["read"] == t["kept"] + t["rejected"] + t["failed"]
    docs = read_dir(inputs / "out" / "docs")
    errors = read_dir(inputs / "out" / "errors")
    rejected = read_dir(inputs / "out" / "rejected")
    assert t["kept"] == len(docs) and t["failed"] == len(errors) and t["rejected"] == len(rejected)
    assert sum(1 for i in docs[D.ID].to_pylist() if i.startswith("own-")) == 30  # own ids kept
    assert sorted(rejected[D.REASON].to_pylist()) == ["normalize:empty"]
    messages = " | ".join(errors[D.ERROR].to_pylist())
    assert "not JSON" in messages and "expected a JSON object" in messages and "'text' missing" in messages
    assert "unreadable after line" in messages  # truncated gzip: counted, the good part still read
    assert 0 < sum(1 for f in docs[D.INPUT_FILE].to_pylist() if f.endswith("d.jsonl.gz")) < 40
    assert json.loads(docs.filter(pa.array([i == "own-0" for i in docs[D.ID].to_pylist()]))[D.METADATA][0].as_py()) == {"lang": "zh"}
    assert "_row" not in docs.column_names and D.REASON not in docs.column_names
    assert stats["read"]["errors"] == len(errors)


@dataclass
class KeepLongestParams:
    buckets: int = 3


def _longest(table: pa.Table, bucket: int) -> pa.Table:
    """Per source, the row key of its longest text (ties: smallest key)."""
    table = D.active(table)
    best: dict[str, tuple[int, int]] = {}
    for src, text, row in zip(table[D.SOURCE].to_pylist(), table[D.TEXT].to_pylist(), table[D.ROW].to_pylist()):
        cand = (-len(text), row)
        best[src] = min(best.get(src, cand), cand)
    return pa.table({D.SOURCE: list(best), D.ROW: [v[1] for v in best.values()]})


class KeepLongest(BarrierStage):
    """A whole-dataset stage for the test: keep only each source's longest document."""

    name = "keep_longest"
    Params = KeepLongestParams

    def prepare(self, rows: TableSet, ops) -> dict:
        winners = ops.shuffle(rows, D.SOURCE, self.params.buckets, _longest, name="longest")
        keep = winners.read_all()[D.ROW].to_pylist()
        os.makedirs(self.context.work_dir, exist_ok=True)
        with open(os.path.join(self.context.work_dir, "keep.json"), "w") as f:
            json.dump(keep, f)
        return {"winners": len(keep)}

    def setup(self):
        path = os.path.join(self.context.work_dir, "keep.json")
        self.keep = set(json.load(open(path))) if os.path.exists(path) else set()

    def process(self, batch):
        losers = np.array([r not in self.keep for r in batch[D.ROW].to_pylist()])
        return D.reject(batch, losers, "keep_longest:shorter")


def test_barrier_stage_sees_the_whole_dataset(inputs, monkeypatch):
    monkeypatch.setitem(STAGES, "keep_longest", f"{__name__}:KeepLongest")
    write_jsonl(inputs / "in" / "f.jsonl", [{"text": "长" * 50, "source": "other"}])
    stats = run_job(make_job(inputs, [{"normalize": {}}, {"keep_longest": {"buckets": 2}}]), RunOptions(use_ray=False, quiet=True))
    docs = read_dir(inputs / "out" / "docs")
    assert sorted(docs[D.SOURCE].to_pylist()) == ["other", "web"]
    assert stats["stages"][1]["prepare"]["winners"] == 2
    assert stats["totals"]["kept"] == 2
    assert stats["totals"]["read"] == stats["totals"]["kept"] + stats["totals"]["rejected"] + stats["totals"]["failed"]


def test_rerun_skips_committed_work_and_refuses_a_changed_job(inputs, capsys):
    job = make_job(inputs, [{"normalize": {}}])
    run_job(job, RunOptions(use_ray=False))
    first = {f: (inputs / "out" / "docs" / f).read_bytes() for f in os.listdir(inputs / "out" / "docs")}
    capsys.readouterr()
    run_job(job, RunOptions(use_ray=False))
    assert "0 partitions to run, 5 already committed" in capsys.readouterr().out
    assert first == {f: (inputs / "out" / "docs" / f).read_bytes() for f in os.listdir(inputs / "out" / "docs")}
    changed = make_job(inputs, [{"normalize": {"form": "NFKC"}}])
    with pytest.raises(JobError, match="holds a run of a different job"):
        run_job(changed, RunOptions(use_ray=False))
    run_job(changed, RunOptions(use_ray=False, overwrite=True, quiet=True))


def test_output_of_another_segment_layout_is_not_resumed(inputs, monkeypatch):
    """A jinglian version that cuts the same job into other segments must not read this version's markers."""
    monkeypatch.setitem(STAGES, "keep_longest", f"{__name__}:KeepLongest")
    job = make_job(inputs, [{"normalize": {}}, {"keep_longest": {}}])
    run_job(job, RunOptions(use_ray=False, quiet=True))
    marker = inputs / "out" / "_job.json"
    claimed = json.loads(marker.read_text())
    assert claimed["segments"] == [["normalize"], ["keep_longest"]]
    marker.write_text(json.dumps({**claimed, "segments": [["normalize", "keep_longest"]]}))
    with pytest.raises(JobError, match="cannot be resumed"):
        run_job(job, RunOptions(use_ray=False, quiet=True))


def test_ray_run_matches_local_run_byte_for_byte(inputs, ray_local):
    run_job(make_job(inputs, [{"normalize": {}}], output="local"), RunOptions(use_ray=False, quiet=True))
    stats = run_job(make_job(inputs, [{"normalize": {}}], output="ray"), RunOptions(use_ray=True, workers=2, quiet=True))
    for sub in ("docs", "rejected", "errors"):
        local = sorted(os.listdir(inputs / "local" / sub))
        assert local == sorted(os.listdir(inputs / "ray" / sub))
        for f in local:
            assert (inputs / "local" / sub / f).read_bytes() == (inputs / "ray" / sub / f).read_bytes(), f
    assert stats["partitions"] == 5


def test_a_segment_starts_no_more_workers_than_partitions():
    assert pool_size(cpus_per_worker=1.0, cluster_cpus=2, requested=4, partitions=1) == 1
    assert pool_size(cpus_per_worker=1.0, cluster_cpus=2, requested=None, partitions=5) == 2  # default: what fits
    assert pool_size(cpus_per_worker=0.5, cluster_cpus=2, requested=None, partitions=3) == 3
    assert pool_size(cpus_per_worker=4.0, cluster_cpus=2, requested=None, partitions=3) == 1  # never zero


class Witness(Stage):
    """Records, at each partition_done, whether the partition's outputs and marker exist yet."""

    name = "witness"
    seen: list = []

    def process(self, batch):
        return batch

    def partition_done(self, part):
        out = self.context.output_dir
        Witness.seen.append((part, os.path.exists(os.path.join(out, "docs", f"part-{part:05d}.parquet")),
                             os.path.exists(os.path.join(out, "_parts", f"part-{part:05d}.json"))))


def test_partition_done_runs_after_the_outputs_commit_and_before_the_marker(tmp_path):
    from jinglian.pipeline.partition import PartitionTask, SegmentPlan, SegmentRunner

    write_jsonl(tmp_path / "a.jsonl", [{"text": "一篇文档。"}, {"text": "另一篇。"}])
    plan = SegmentPlan(index=0, stages=[("witness", None)], output_dir=str(tmp_path / "out"), final=True)
    runner = SegmentRunner(plan, [Witness])
    Witness.seen = []
    for part in (3, 4):
        runner.run(PartitionTask(part=part, source_path=str(tmp_path / "a.jsonl"), input_format="jsonl", input_source="web"))
    assert Witness.seen == [(3, True, False), (4, True, False)]
    assert os.path.exists(plan.marker_path(4))


def test_ray_that_misses_its_start_up_deadline_is_retried_then_one_line():
    # Ray's raylet has a fixed 30 s to start; only a machine loaded far beyond its cores misses it, so the
    # failure is injected where Ray raises it (a bare Exception from ray.init), in a fresh interpreter
    # (this one may hold a Ray instance of another test, which _init_ray would rightly reuse)
    import subprocess
    import sys

    code = """
import ray
from jinglian.pipeline import ray_runtime
from jinglian.pipeline.job import JobError
calls = []
def late_raylet(**kwargs):
    calls.append(kwargs["address"])
    raise Exception("The current node timed out during startup.")
ray.init = late_raylet
try:
    ray_runtime._init_ray(None, None)
except JobError as exc:
    print(len(calls), set(calls), ray.is_initialized())
    print(exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    counts, message = out.splitlines()[:2]
    assert counts == "3 {'local'} False"
    assert message.startswith("Ray did not start on this machine after 3 tries") and "--no-ray" in message


@dataclass
class PidParams:
    label: str = "a"


def _pid_file(output_dir: str, label: str) -> None:
    os.makedirs(os.path.join(output_dir, "pids"), exist_ok=True)
    open(os.path.join(output_dir, "pids", f"{label}-{os.getpid()}"), "w").close()


class PidStage(Stage):
    """Passes rows through; notes which process ran it (``<output>/pids/<label>-<pid>``)."""

    name = "pid_stage"
    Params = PidParams

    def process(self, batch):
        _pid_file(self.context.output_dir, self.params.label)
        return batch


class HalfCpuPidStage(PidStage):
    num_cpus = 0.5  # as the crawl stage: more actors than cores, each holding half a CPU


def _note_piece(output_dir: str, table: pa.Table, index: int) -> pa.Table:
    _pid_file(output_dir, "barrier")
    return pa.table({"rows": [len(table)]})


class PidBarrier(BarrierStage):
    """A barrier whose pieces note which process ran them."""

    name = "pid_barrier"

    def prepare(self, rows: TableSet, ops) -> dict:
        counted = ops.map(rows, functools.partial(_note_piece, self.context.output_dir), name="count")
        return {"rows": sum(counted.read_all()["rows"].to_pylist())}

    def process(self, batch):
        return batch


def pids(output_dir) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name in os.listdir(output_dir / "pids"):
        label, pid = name.rsplit("-", 1)
        found.setdefault(label, set()).add(pid)
    return found


@pytest.mark.timeout(600)
def test_a_ray_run_reuses_its_workers_across_segments_and_barriers(inputs, ray_local):
    stages = [{f"{__name__}:PidStage": {"label": "first"}}, {f"{__name__}:PidBarrier": {}},
              {f"{__name__}:PidStage": {"label": "second"}}]
    stats = run_job(make_job(inputs, stages), RunOptions(use_ray=True, workers=2, quiet=True))
    seen = pids(inputs / "out")
    assert 1 <= len(seen["first"]) <= 2
    assert seen["barrier"] <= seen["first"] and seen["second"] <= seen["first"]  # no fresh worker process
    assert stats["stages"][1]["prepare"]["rows"] == stats["totals"]["read"]  # every row reached the barrier
    t = stats["totals"]
    assert t["read"] == t["kept"] + t["rejected"] + t["failed"]


@pytest.mark.timeout(600)
def test_a_barrier_after_half_cpu_workers_gets_whole_cpu_workers_and_does_not_hang(inputs, ray_local):
    # four actors of half a CPU fill both cores; the barrier's pieces need a whole CPU each, so the pool
    # replaces its actors rather than leave the pieces waiting for CPUs its idle actors hold
    stages = [{f"{__name__}:HalfCpuPidStage": {"label": "first"}}, {f"{__name__}:PidBarrier": {}},
              {f"{__name__}:PidStage": {"label": "second"}}]
    stats = run_job(make_job(inputs, stages), RunOptions(use_ray=True, quiet=True))
    seen = pids(inputs / "out")
    assert not seen["barrier"] & seen["first"]
    assert seen["second"] <= seen["barrier"]
    t = stats["totals"]
    assert t["read"] == t["kept"] + t["rejected"] + t["failed"]
